"""Early stopping on the validation loss (issue 18, item 7): training stops after `patience`
epochs without improvement, the best epoch's weights are the ones kept (scored again here on the
validation split), a seed gives the same stop and weights, divergence is still reported, and
the option off changes no config hash, cache key or epoch count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import compose_config
from tinyexp.core.errors import ConfigError, DivergenceError
from tinyexp.core.names import Metric
from tinyexp.core.validation import validate
from tinyexp.model import train
from tinyexp.model.data import make_dataset
from tinyexp.model.early_stopping import StoppingOutcome
from tinyexp.pipeline.recorder import record_training
from tinyexp.tracking import sweep
from tinyexp.tracking.store import RunRecord

# A 1-8-8-1 sine net at a high rate: its validation loss stops falling within a few dozen epochs.
REGRESSION = ["model.neurons=8", "train.epochs=300", "train.learning_rate=0.03", "train.early_stopping_patience=5"]
# A small dense classifier on noisy synthetic data: it overfits, so its validation loss turns up.
CLASSIFICATION = ["model=layers",
                  "model.layers=[{type: Dense, units: 32, activation: relu}, {type: Dense, units: 2}]",
                  "dataset=synthetic", "dataset.noise=4", "train.epochs=200", "train.optimizer=adam",
                  "train.learning_rate=0.02", "train.batch_size=32", "train.early_stopping_patience=3"]


def _train(overrides: list[str], cache: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[train.TrainedModel, Any]:
    monkeypatch.setenv(train.CACHE_ENV, str(cache))
    cfg = compose_config(overrides)
    validate(cfg)
    data = make_dataset(cfg.dataset)
    return train.train(cfg.model, cfg.train, cfg.dataset, data), (cfg, data)


def _validation_loss(keras_path: Path, data: Any, task_loss: str) -> float:
    """The restored model's loss on the validation split, computed here with NumPy."""
    import keras

    pred = keras.models.load_model(keras_path, compile=False).predict(data.validation.x, verbose=0)
    if task_loss == "crossentropy":  # from logits
        logits = pred - pred.max(axis=-1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        return float(-np.mean(log_p[np.arange(len(pred)), data.validation.y.astype(int)]))
    return float(np.mean((pred - data.validation.y) ** 2))


@pytest.mark.parametrize("overrides, loss", [(REGRESSION, "mse"), (CLASSIFICATION, "crossentropy")],
                         ids=["regression", "classification"])
def test_stops_on_a_plateau_and_keeps_the_best_weights(overrides: list[str], loss: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    trained, (cfg, data) = _train(overrides, tmp_path / "a", monkeypatch)
    stop = trained.stopping
    assert stop is not None and stop.epochs_run < cfg.train.epochs  # it stopped early
    assert stop.epochs_run - stop.best_epoch == cfg.train.early_stopping_patience
    # The kept model is the best epoch's: scored again, it gives the recorded best loss.
    assert _validation_loss(trained.keras_path, data, loss) == pytest.approx(stop.val_loss_best, rel=1e-4)
    meta = json.loads((trained.entry / "meta.json").read_text())
    assert StoppingOutcome.from_meta(meta) == stop
    # A cache hit reports the same stop.
    assert train.train(cfg.model, cfg.train, cfg.dataset, data).stopping == stop


def test_the_same_seed_stops_at_the_same_epoch_with_the_same_weights(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    first, _ = _train(REGRESSION, tmp_path / "a", monkeypatch)
    again, _ = _train(REGRESSION, tmp_path / "b", monkeypatch)  # another cache: trained afresh
    assert not again.from_cache and again.stopping == first.stopping
    weights = [keras.models.load_model(t.keras_path, compile=False).get_weights() for t in (first, again)]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


def test_a_stop_at_the_end_of_a_compiled_call_ends_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One epoch per call: every stop falls on a call's boundary, and is the same stop."""
    import keras

    chunked, _ = _train(REGRESSION, tmp_path / "a", monkeypatch)
    monkeypatch.setattr(train, "_chunk_epochs", lambda epochs: 1)
    per_epoch, _ = _train(REGRESSION, tmp_path / "b", monkeypatch)
    assert per_epoch.stopping == chunked.stopping
    weights = [keras.models.load_model(t.keras_path, compile=False).get_weights() for t in (chunked, per_epoch)]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


def test_a_diverging_run_still_fails_with_early_stopping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DivergenceError, match="training diverged: the loss became .* in epoch 1 of 4"):
        _train(["train.learning_rate=1000", "train.optimizer=sgd", "train.epochs=4",
                "train.early_stopping_patience=2"], tmp_path, monkeypatch)


def test_off_by_default_changes_no_hash_key_or_epoch_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def identity(overrides: list[str]) -> tuple[str, str]:
        cfg = compose_config(overrides)
        return sweep.config_hash(cfg), train.cache_key(cfg.dataset, cfg.model, cfg.train)

    default = identity([])
    assert identity(["train.early_stopping_patience=0", "train.early_stopping_min_delta=0"]) == default
    on = identity(["train.early_stopping_patience=5"])
    assert on[0] != default[0] and on[1] != default[1]  # a stopped model is never served for an unstopped config
    trained, _ = _train(["model.neurons=4", "train.epochs=3"], tmp_path, monkeypatch)
    assert trained.stopping is None and "epochs_run" not in json.loads((trained.entry / "meta.json").read_text())


def test_min_delta_without_patience_is_refused() -> None:
    with pytest.raises(ConfigError, match="train.early_stopping_min_delta=0.1 is invalid: .*patience >= 1"):
        validate(compose_config(["train.early_stopping_min_delta=0.1"]))


def test_the_run_records_the_stop_and_the_summary_says_it() -> None:
    stop = StoppingOutcome(epochs_run=41, best_epoch=31, val_loss_best=0.0123)
    record = RunRecord()
    record_training(record, train.TrainedModel(Path("m.keras"), "k", 1.0, 0.1, {"val_mse": 0.0123}, False, stop))
    assert (record.metrics[Metric.TRAIN_EPOCHS_RUN], record.metrics[Metric.TRAIN_BEST_EPOCH],
            record.metrics[Metric.VAL_LOSS_BEST]) == (41, 31, 0.0123)
    assert stop.describe(600).startswith("stopped at epoch 41 of 600, weights of epoch 31 kept")
    assert stop.describe(41).startswith("ran all 41 epochs")
