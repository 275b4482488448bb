"""Training defaults by task: the study's for regression, others for classification.

conf/train/default.yaml holds the 2020 study's training (600 epochs, batch 16, rmsprop, mse),
made for a 1-n-n-1 sine regression. Applied silently to a classifier it trains for minutes
with a poor optimiser. So each training value a job's config leaves at that file's value, and
no override sets, is the task's default: the study's for regression (the study's numbers are
unchanged), :data:`CLASSIFICATION_DEFAULTS` for classification. A value set on the command
line or by a preset is kept whatever the task. The run logs the values that trained and says
which were defaults (tag `train_defaults`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import yaml

from tinyexp.core.config import CROSSENTROPY, TrainConfig
from tinyexp.core.resources import conf_dir
from tinyexp.model.data import CLASSIFICATION

TASK_KEYS = ("epochs", "batch_size", "optimizer", "loss")  # what a task's defaults may change
CLASSIFICATION_DEFAULTS: Mapping[str, Any] = {"epochs": 50, "batch_size": 32, "optimizer": "adam",
                                              "loss": CROSSENTROPY}


@dataclass(frozen=True)
class TrainingChoice:
    """The training values a job runs with, and which of them were the task's defaults."""

    values: dict[str, Any]  # every key of TASK_KEYS
    defaulted: tuple[str, ...]
    basis: str  # whose defaults: "the study's regression defaults" | "classification defaults"

    def describe(self) -> str:
        """The tag's text, e.g. "epochs=50, batch_size=32, optimizer=adam (classification defaults)"."""
        if not self.defaulted:
            return "none: every training value was set"
        return ", ".join(f"{k}={self.values[k]}" for k in self.defaulted) + f" ({self.basis})"


def study_defaults() -> dict[str, Any]:
    """conf/train/default.yaml's values of the task-dependent keys."""
    loaded = yaml.safe_load((conf_dir() / "train" / "default.yaml").read_text())
    assert isinstance(loaded, dict)
    return {key: loaded[key] for key in TASK_KEYS}


def choose_training(train_cfg: TrainConfig, task: str, overrides: Sequence[str]) -> TrainingChoice:
    """The training values for ``task``: the configured ones, with those left at the study's
    defaults (and set by no override) replaced by the task's defaults. The loss of a
    classification is always cross-entropy (it trains on labels)."""
    study = study_defaults()
    overridden = {o.split("=", 1)[0].lstrip("+~").removeprefix("train.") for o in overrides if "=" in o}
    defaulted = tuple(k for k in TASK_KEYS if k not in overridden and getattr(train_cfg, k) == study[k])
    classify = task == CLASSIFICATION
    task_defaults = CLASSIFICATION_DEFAULTS if classify else study
    values = {k: task_defaults[k] if k in defaulted else getattr(train_cfg, k) for k in TASK_KEYS}
    if classify:
        values["loss"] = CROSSENTROPY
    basis = "classification defaults" if classify else "the study's regression defaults"
    return TrainingChoice(values, defaulted, basis)
