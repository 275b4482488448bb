"""What the virtual board lets run: the model checked as the firmware and its build would,
against the board's flash and RAM, the sketch's arena and TFLM itself.

A check that fails is a :class:`Refused` carrying the ERR code the firmware would send
(``too_big``, ``model_refused``), so the host sees the same refusal a real board gives. A model
that passes is loaded into the real TFLM kernels with what INFO reports and the clock's figures.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from agent import protocol as p
from tinyexp.core.config import BoardConfig
from tinyexp.device.virtual_clock import LatencyFn, OperatorsFn, whole_ticks
from tinyexp.tflm.graph import read_graph
from tinyexp.tflm.runtime import TflmModel, TflmRefusal, check_support


class Refused(Exception):
    """The model cannot run here; ``code`` is the ERR code the firmware would send."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code


@dataclass(frozen=True)
class LoadedModel:
    """A model that passed every check, with what INFO reports and the clock's estimate."""

    tflm: TflmModel
    info: dict[str, str]
    latency_us: float
    cycles: int
    operators: tuple[tuple[str, int], ...] | None  # (name, cycles) for PROF; None: no figures


def sketch_base(board: BoardConfig, memory: str) -> int:
    """Bytes of flash or RAM the sketch takes besides model and arena; 0 while unknown (null)."""
    return int(getattr(board, f"sketch_{memory}_bytes") or 0)


def load_model(model: bytes, board: BoardConfig, arena_bytes: int, arena_given: bool,
               latency_fn: LatencyFn, operators_fn: OperatorsFn | None) -> LoadedModel:
    """Check the model as the firmware and its build would, cheapest check first.

    ``arena_given``: the sketch's arena was sized by the host (the runner's probe), so the board
    only has to allocate in it, as firmware does; otherwise the arena a sketch would need is
    probed here first, for a model given by hand.
    """
    flash_base, ram_base = sketch_base(board, "flash"), sketch_base(board, "ram")
    if len(model) + flash_base > board.flash_bytes:
        raise Refused("too_big", f"flash: model {len(model)} + sketch {flash_base} > "
                                 f"{board.flash_bytes} bytes")
    needed = arena_bytes if arena_given else _probed_arena(model)
    if needed + ram_base > board.ram_bytes:
        raise Refused("too_big", f"RAM: arena {needed} + sketch {ram_base} > "
                                 f"{board.ram_bytes} bytes")
    if needed > arena_bytes:
        raise Refused("model_refused", f"needs a {needed}-byte arena, the sketch has {arena_bytes}")
    try:
        tflm = TflmModel(model, arena_bytes)
    except struct.error as exc:  # the binding parses the flatbuffer in Python first
        raise Refused("model_refused", f"not a TFLite flatbuffer: {exc}") from exc
    except TflmRefusal as exc:
        raise Refused("model_refused", str(exc)) from exc
    if not arena_given:  # the runner's models had their tensors counted in the preflight (model.sources)
        _refuse_several_tensors(model)
    for side, dtype in (("input", tflm.input_dtype), ("output", tflm.output_dtype)):
        if dtype.name not in p.DTYPES:
            raise Refused("model_refused", f"{side} dtype {dtype.name} is not carried by "
                                           f"protocol v1 ({', '.join(p.DTYPES)})")
    estimate = latency_fn(model, board)
    info = {
        "model_bytes": str(len(model)), "model_crc32": f"{p.crc32(model):08x}",
        "arena_bytes": str(arena_bytes), "arena_used_bytes": str(tflm.arena_used_bytes()),
        "in_dtype": tflm.input_dtype.name, "in_len": str(int(np.prod(tflm.input_shape))),
        "out_dtype": tflm.output_dtype.name,
        "out_len": str(int(np.prod(tflm.output_details["shape"]))),
    }
    operators = whole_ticks(operators_fn(model, board)) if operators_fn is not None else None
    return LoadedModel(tflm, info, float(estimate.latency_us), int(round(estimate.cycles)), operators)


def _refuse_several_tensors(model: bytes) -> None:
    """The protocol carries one input tensor (IN) and one output (RUN's result): a model with
    more would be fed its first input only and scored on its first output, a wrong figure."""
    graph = read_graph(model)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise Refused("model_refused", f"the model has {len(graph.inputs)} input and {len(graph.outputs)} output "
                                       "tensors; the protocol carries exactly one of each (concatenate the inputs "
                                       "or the outputs into one tensor)")


def _probed_arena(model: bytes) -> int:
    """The arena a sketch must reserve for ``model``, found with TFLM; refusal if it cannot run."""
    try:
        support = check_support(model)
    except struct.error as exc:
        raise Refused("model_refused", f"not a TFLite flatbuffer: {exc}") from exc
    if not support.runs:
        raise Refused("model_refused", support.reason or "TFLM refused the model")
    return int(support.arena_bytes or 0)
