"""The model-side stages of a job as one step each: convert and analyse, describe, refuse.

Kept apart from the runner so the runner reads as the job's sequence, and from the recorder
so these results stay free of MLflow names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyexp.core.config import Config, QuantConfig, QuantMode
from tinyexp.model import convert as convert_stage
from tinyexp.model import sources
from tinyexp.model.data import Dataset
from tinyexp.tflm.board_fit import FitCheck
from tinyexp.tflm.graph import ModelGraph, read_graph
from tinyexp.tflm.inspect import ModelStats, model_stats
from tinyexp.tflm.runtime import TflmSupport, check_support


@dataclass(frozen=True)
class ConvertedModel:
    """A converted .tflite model with its graph (read once; every later analysis of the job
    reads it), its statistics and whether TFLM runs it."""

    mode: QuantMode
    data: bytes
    graph: ModelGraph
    stats: ModelStats
    support: TflmSupport


def analysed(mode: QuantMode, tflite: bytes) -> ConvertedModel:
    """The job's one parse of its .tflite, and TFLM's verdict on it."""
    graph = read_graph(tflite)
    return ConvertedModel(mode, tflite, graph, model_stats(graph), check_support(tflite))


def convert_and_analyse(keras_model: Any, quant: QuantConfig, data: Dataset, batch_one: bool = False) -> ConvertedModel:
    """Convert with the configured quantisation; inspect the flatbuffer; load it in TFLM."""
    mode = QuantMode(quant.mode)
    tflite = convert_stage.convert(keras_model, mode, quant.per_channel, data.train.x, quant.strip_strings,
                                   batch_one)
    return analysed(mode, tflite)


def as_is(tflite: bytes) -> ConvertedModel:
    """A .tflite file used as it is: inspected and loaded in TFLM, never converted."""
    return analysed(QuantMode.as_is, tflite)


def describe(cfg: Config) -> str:
    """One line naming the network and its quantisation, e.g. "dense 1-16-16-1, quant=int8, per-tensor"."""
    quant = QuantMode(cfg.quant.mode)
    if quant is QuantMode.as_is:
        return f"{sources.describe(cfg.model)}, as is"
    return f"{sources.describe(cfg.model)}, quant={quant.value}" + (
        ", per-channel" if cfg.quant.per_channel else ", per-tensor")


def refusal(model: ConvertedModel, fit: FitCheck, board_name: str) -> str | None:
    """Why this model cannot be deployed to the configured board; None if it can."""
    if not model.support.runs:
        return f"TFLM cannot run this {model.stats.kernel_kind} model: {model.support.reason}"
    return fit.reason(board_name)
