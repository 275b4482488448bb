"""Train the Keras model once per (data, model, train config, seed, library versions).

Why not `model.fit`: for the study's tiny networks, fit spends nearly all its time in
per-step Python overhead (600 epochs x 38 steps). Here the whole run (every epoch, every
mini-batch, the Keras optimiser update) is one XLA-compiled TensorFlow function, fed the
same per-epoch shuffles a seeded generator makes. Batches keep a fixed shape for XLA: the
last, short batch of an epoch is padded and masked, so its loss is the mean over its real
samples, exactly as fit computes it.

Regression trains on the configured loss (mse or mae); classification always on sparse
cross-entropy, from logits unless the model ends in a softmax.

Trained models are cached by a content hash of everything that determines the weights, so
a sweep over quantisation modes trains once. Each entry carries the SHA-256 of its files,
checked on every hit: a truncated or corrupted entry is retrained, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from tinyexp.core.config import CROSSENTROPY, TRAIN_KEYED_UNLESS, DatasetSpec, ModelSource, TrainConfig, as_plain
from tinyexp.core.errors import ConfigError, DivergenceError
from tinyexp.core.progress import Advance, progress
from tinyexp.model import sources
from tinyexp.model.data import CLASSIFICATION, Dataset, largest_target
from tinyexp.model.early_stopping import EarlyStopping, StoppingOutcome
from tinyexp.model.library_versions import training_library_versions

CACHE_ENV = "TINYEXP_CACHE_DIR"
# Targets this large give a freshly initialised net (outputs of order 1) losses and gradients
# of their square: when such a run diverges, their scale is the likely cause, not the rate.
LARGE_TARGET = 1e3


@dataclass(frozen=True)
class TrainedModel:
    """A trained Keras model on disk and what it took to make it."""

    keras_path: Path
    cache_key: str
    train_seconds: float
    final_train_loss: float
    val_metrics: dict[str, float]  # val_mse (regression) or val_accuracy (classification)
    from_cache: bool
    stopping: StoppingOutcome | None = None  # with train.early_stopping_patience >= 1

    @property
    def entry(self) -> Path:
        """The cache entry's folder: the model and what is kept beside it (its conversions)."""
        return self.keras_path.parent


def cache_dir() -> Path:
    """Where trained models are kept: $TINYEXP_CACHE_DIR, else .cache/tinyexp under the cwd."""
    return Path(os.environ.get(CACHE_ENV, Path.cwd() / ".cache" / "tinyexp"))


def trained_entries(folder: Path) -> list[Path]:
    """The trained models' entries in a cache folder (named by their key; the folder also
    holds the estimator's store and entries being written)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"[0-9a-f]{20}", p.name))


def cache_key(dataset_cfg: DatasetSpec, model_cfg: ModelSource, train_cfg: TrainConfig) -> str:
    """SHA-256 over the configs that determine the weights (and a model file's contents),
    and the library versions; train keys added since the study count only away from their
    default (TRAIN_KEYED_UNLESS), so the models trained before them are still found."""
    payload: dict[str, Any] = {
        "dataset": as_plain(dataset_cfg),
        "model": as_plain(model_cfg),
        "train": {k: v for k, v in as_plain(train_cfg).items()
                  if k not in TRAIN_KEYED_UNLESS or v != TRAIN_KEYED_UNLESS[k]},
        "versions": training_library_versions(),
        "trainer": 1,
    }
    identity = sources.cache_identity(model_cfg)
    if identity:  # absent for built models, so their keys stay what they were
        payload["source"] = identity
    data = sources.data_identity(dataset_cfg)
    if data:  # absent for built-in datasets, so their keys stay what they were
        payload["data_source"] = data
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def _epoch_batches(samples: int, batch: int, epochs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-epoch shuffled sample indices as [epochs, steps, batch], and the padding mask."""
    steps = -(-samples // batch)
    rng = np.random.default_rng(seed)
    order = np.zeros((epochs, steps * batch), dtype=np.int32)
    for epoch in range(epochs):
        order[epoch, :samples] = rng.permutation(samples)
    mask = np.zeros((steps * batch, 1), dtype=np.float32)
    mask[:samples] = 1.0
    return order.reshape(epochs, steps, batch), mask.reshape(steps, batch, 1)


def ends_in_softmax(model: Any) -> bool:
    """Whether the model outputs probabilities (a Softmax layer or softmax activation last)."""
    import keras

    last = model.layers[-1]
    return isinstance(last, keras.layers.Softmax) or getattr(last, "activation", None) is keras.activations.softmax


def training_loss(task: str, configured: str) -> str:
    """The loss a dataset's task trains on, as the run logs it: cross-entropy on the labels for
    classification (whatever train.loss says), else the configured regression loss."""
    if task == CLASSIFICATION:
        return CROSSENTROPY
    if configured == CROSSENTROPY:
        raise ConfigError(f"train.loss={CROSSENTROPY} is the loss of classification datasets; this dataset is a "
                          "regression (train.loss=mse or mae)")
    return configured


def _masked_loss(kind: str, from_logits: bool = True):  # noqa: ANN202 - a TF function
    """The mean loss over a batch's real samples; kind mse | mae | crossentropy (labels)."""
    import keras
    import tensorflow as tf

    def loss(pred, target, weight):  # noqa: ANN001, ANN202
        if kind == CROSSENTROPY:
            per_sample = keras.losses.sparse_categorical_crossentropy(target, pred, from_logits=from_logits)
            per_sample = tf.reshape(per_sample, tf.shape(weight))
        else:
            err = pred - target
            per_sample = tf.square(err) if kind == "mse" else tf.abs(err)
            per_sample = tf.reduce_mean(per_sample, axis=-1, keepdims=True)
        return tf.reduce_sum(per_sample * weight) / tf.reduce_sum(weight)

    return loss


def _chunk_epochs(epochs: int, max_calls: int = 20) -> int:
    """Epochs per compiled call: the smallest divisor of `epochs` giving at most `max_calls`
    calls, so every call has the same shape and XLA compiles once."""
    return next(d for d in range(1, epochs + 1) if epochs % d == 0 and epochs // d <= max_calls)


def divergence_advice(data: Dataset) -> str:
    """What to change when training diverged: the targets' scale where it is large, else the rate."""
    top = largest_target(data)
    if top >= LARGE_TARGET:
        return (f"the targets reach |y| = {top:.3g}, the likely cause: scale them (e.g. divide by their "
                "standard deviation) before training, or lower the learning rate")
    return "lower the learning rate"


@dataclass(frozen=True)
class FitResult:
    """What the compiled loop reports: the last batch's loss and, with early stopping, how it went."""

    final_loss: float
    stopping: StoppingOutcome | None


def fit_compiled(model: Any, data: Dataset, train_cfg: TrainConfig, advance: Advance = lambda n: None,
                 xla: bool = True) -> FitResult:
    """Run the epochs in a few calls of one XLA-compiled function.

    The epochs go in equal chunks (a handful of calls, one compilation) so that progress can
    be shown between them without giving up the compiled loop. With early stopping
    (train.early_stopping_patience >= 1) the validation loss is checked after every epoch inside
    the function, which ends its chunk early when training should stop; the best epoch's
    weights are then put back (tinyexp.model.early_stopping). Off, the loop is traced as before.
    """
    import keras
    import tensorflow as tf

    # Each job compiles its own loop for its own model; TF's "retracing" warning is expected.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    optimizer = keras.optimizers.get(
        {"class_name": train_cfg.optimizer, "config": {"learning_rate": float(train_cfg.learning_rate)}}
    )
    classify = data.task == CLASSIFICATION
    loss_fn = _masked_loss(training_loss(data.task, train_cfg.loss), not (classify and ends_in_softmax(model)))
    epochs = int(train_cfg.epochs)
    order, mask = _epoch_batches(len(data.train.x), int(train_cfg.batch_size), epochs, int(train_cfg.seed))
    steps = order.shape[1]
    weights = model.trainable_variables
    stopper = (EarlyStopping(model, data.validation, loss_fn, train_cfg.early_stopping_patience,
                             train_cfg.early_stopping_min_delta) if train_cfg.early_stopping_patience else None)

    @tf.function(jit_compile=xla)
    def run(x, y, order, mask, first_epoch):  # noqa: ANN001, ANN202
        loss = tf.constant(0.0)
        bad_epoch, bad_loss = tf.constant(-1), tf.constant(0.0)  # the first non-finite loss
        ran = tf.shape(order)[0]  # epochs of this chunk trained, fewer if training stopped
        for epoch in tf.range(tf.shape(order)[0]):
            for step in tf.range(steps):
                idx = order[epoch, step]
                with tf.GradientTape() as tape:
                    loss = loss_fn(model(tf.gather(x, idx), training=True), tf.gather(y, idx), mask[step])
                optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
                first = tf.logical_and(bad_epoch < 0, tf.logical_not(tf.math.is_finite(loss)))
                bad_epoch = tf.where(first, epoch, bad_epoch)
                bad_loss = tf.where(first, loss, bad_loss)
            if stopper is not None and stopper.after_epoch(first_epoch + epoch):
                ran = epoch + 1
                break
        return loss, bad_epoch, bad_loss, ran

    x, y, mask_t = tf.constant(data.train.x), tf.constant(data.train.y), tf.constant(mask)
    chunk = _chunk_epochs(epochs)
    final, epochs_run = tf.constant(0.0), 0
    for start in range(0, epochs, chunk):
        final, bad_epoch, bad_loss, ran = run(x, y, tf.constant(order[start : start + chunk]), mask_t,
                                              tf.constant(start))
        if int(bad_epoch) >= 0:
            raise DivergenceError(
                f"training diverged: the loss became {float(bad_loss)} in epoch "
                f"{start + int(bad_epoch) + 1} of {epochs} "
                f"(train.learning_rate={train_cfg.learning_rate}, optimizer {train_cfg.optimizer}); "
                + divergence_advice(data))
        epochs_run += int(ran)
        advance(int(ran))
        if stopper is not None and stopper.stopped:
            break
    return FitResult(float(final), stopper.restore(epochs_run) if stopper is not None else None)


def _validation_metrics(model: Any, data: Dataset, train_cfg: TrainConfig) -> dict[str, float]:
    """val_mse or val_accuracy; DivergenceError if the trained model's outputs are not finite."""
    pred = model.predict(data.validation.x, verbose=0, batch_size=1024)
    if not np.isfinite(pred).all():
        raise DivergenceError(f"training diverged: the trained model gives non-finite outputs "
                              f"({int((~np.isfinite(pred)).sum())} of {pred.size} on the validation set; "
                              f"train.learning_rate={train_cfg.learning_rate}); " + divergence_advice(data))
    if data.task == CLASSIFICATION:
        return {"val_accuracy": float(np.mean(np.argmax(pred, axis=-1) == data.validation.y))}
    return {"val_mse": float(np.mean((pred - data.validation.y) ** 2))}


def _train_fresh(model_cfg: ModelSource, train_cfg: TrainConfig, data: Dataset, out: Path) -> dict[str, Any]:
    sources.import_tensorflow()
    import keras

    keras.utils.set_random_seed(int(train_cfg.seed))
    model = sources.build(model_cfg, data.input_shape)
    start = time.perf_counter()
    with progress(f"training {sources.describe(model_cfg)}", int(train_cfg.epochs)) as advance:
        # XLA for the study's dense nets, where per-step overhead dominates; TF's graph mode for
        # the rest (XLA's CPU compiler crashed in the MobileNet preset's training loop).
        fitted = fit_compiled(model, data, train_cfg, advance, xla=model_cfg.name == "dense")
    seconds = time.perf_counter() - start
    model.save(out / "model.keras")
    stopping = fitted.stopping.as_meta() if fitted.stopping is not None else {}
    return {"train_seconds": seconds, "final_train_loss": fitted.final_loss, **stopping,
            **_validation_metrics(model, data, train_cfg)}


_ENTRY_FILES = ("model.keras", "meta.json")
_CHECKSUMS = "checksums.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entry_problem(entry: Path) -> str | None:
    """Why a cache entry cannot be trusted (a file missing, unreadable, or not what was
    written), or None if every file matches its recorded SHA-256."""
    if not (entry / _CHECKSUMS).exists():
        return "no checksums (written by an older tinyexp, or cut short)"
    try:
        recorded = json.loads((entry / _CHECKSUMS).read_text())
        for name in _ENTRY_FILES:
            if recorded.get(name) != _sha256(entry / name):
                return f"{name} does not match its checksum"
        json.loads((entry / "meta.json").read_text())
    except (OSError, ValueError, AttributeError) as exc:
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
    return None


def train(model_cfg: ModelSource, train_cfg: TrainConfig, dataset_cfg: DatasetSpec, data: Dataset) -> TrainedModel:
    """Return the cached model for this config, training it (once, under a lock) if needed,
    or again if its cache entry fails its checksums."""
    key = cache_key(dataset_cfg, model_cfg, train_cfg)
    entry = cache_dir() / key
    entry.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(entry) + ".lock"):
        meta_path = entry / "meta.json"
        from_cache = entry.exists() and (problem := entry_problem(entry)) is None
        if entry.exists() and not from_cache:
            print(f"tinyexp: training cache entry {entry} is corrupted ({problem}); retraining",
                  file=sys.stderr)
        if not from_cache:
            staging = entry.with_name(key + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            meta = _train_fresh(model_cfg, train_cfg, data, staging)
            (staging / "meta.json").write_text(json.dumps(meta, indent=2))
            sums = {name: _sha256(staging / name) for name in _ENTRY_FILES}
            (staging / _CHECKSUMS).write_text(json.dumps(sums, indent=2))
            shutil.rmtree(entry, ignore_errors=True)
            staging.rename(entry)  # atomic: a cache entry is complete or absent
        meta = json.loads(meta_path.read_text())
    return TrainedModel(
        keras_path=entry / "model.keras",
        cache_key=key,
        train_seconds=float(meta["train_seconds"]),
        final_train_loss=float(meta["final_train_loss"]),
        val_metrics={k: float(meta[k]) for k in ("val_mse", "val_accuracy") if k in meta},
        from_cache=from_cache,
        stopping=StoppingOutcome.from_meta(meta),
    )
