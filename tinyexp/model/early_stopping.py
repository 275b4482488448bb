"""Early stopping on the validation split inside the compiled training loop (train.early_stopping_*).

Why not Keras' EarlyStopping callback: tinyexp does not call `model.fit` (tinyexp.model.train
runs every epoch in one compiled function), so there is no callback to hook. The same rule runs
here, checked after every epoch inside that function: the validation loss (the very loss trained
on: mse, mae or cross-entropy, over the whole validation split) improves when it falls below the
best so far by more than `min_delta`; after `patience` epochs without improvement training stops,
and the weights of the best epoch (every weight, trainable or not, as `get_weights` gives) are
put back, as Keras' EarlyStopping(restore_best_weights=True) does. The optimiser's state is not
restored (Keras does not either). Nothing here draws random numbers, so a seed still gives the
same weights and the same stop epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tinyexp.model.data import Split

# Validation samples per forward pass: the split is evaluated in padded, masked batches of at
# most this many, so a large split does not hold every activation at once.
VALIDATION_BATCH = 1024


@dataclass(frozen=True)
class StoppingOutcome:
    """How an early-stopped training went: what the cache entry and the run record keep."""

    epochs_run: int  # epochs trained before stopping (all of them if it never stopped)
    best_epoch: int  # 1-based: the epoch whose weights were kept
    val_loss_best: float  # the validation loss at best_epoch

    def as_meta(self) -> dict[str, float | int]:
        return {"epochs_run": self.epochs_run, "best_epoch": self.best_epoch, "val_loss_best": self.val_loss_best}

    @staticmethod
    def from_meta(meta: dict[str, Any]) -> StoppingOutcome | None:
        """The outcome a cache entry's meta.json recorded; None for a run without early stopping."""
        if "epochs_run" not in meta:
            return None
        return StoppingOutcome(int(meta["epochs_run"]), int(meta["best_epoch"]), float(meta["val_loss_best"]))

    def describe(self, epochs: int) -> str:
        """E.g. "stopped at epoch 41 of 600, best epoch 31 (val loss 0.0123)"."""
        stopped = self.epochs_run < epochs
        ran = f"stopped at epoch {self.epochs_run} of {epochs}" if stopped else f"ran all {epochs} epochs"
        return f"{ran}, weights of epoch {self.best_epoch} kept (validation loss {self.val_loss_best:.6g})"


def _validation_batches(split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The split as [batches, batch, ...] inputs and targets, padded with zeros, and the mask
    of real samples [batches, batch, 1]."""
    n = len(split.x)
    batch = min(n, VALIDATION_BATCH)
    batches = -(-n // batch)

    def padded(a: np.ndarray) -> np.ndarray:
        out = np.zeros((batches * batch, *a.shape[1:]), dtype=a.dtype)
        out[:n] = a
        return out.reshape(batches, batch, *a.shape[1:])

    mask = np.zeros((batches * batch, 1), dtype=np.float32)
    mask[:n] = 1.0
    return padded(split.x), padded(split.y), mask.reshape(batches, batch, 1)


class EarlyStopping:
    """The best validation loss so far, its epoch and weights, and the epochs waited since, as
    TensorFlow variables that the compiled loop updates (they outlive each of its calls)."""

    def __init__(self, model: Any, validation: Split, loss_fn: Callable[..., Any], patience: int,
                 min_delta: float) -> None:
        import tensorflow as tf

        self._model, self._loss_fn = model, loss_fn
        self._patience, self._min_delta = int(patience), float(min_delta)
        x, y, mask = _validation_batches(validation)
        self._x, self._y, self._mask = tf.constant(x), tf.constant(y), tf.constant(mask)
        self._samples = float(len(validation.x))
        self._weights = list(model.weights)
        self._best = [tf.Variable(w, trainable=False) for w in self._weights]
        self._best_loss = tf.Variable(np.inf, dtype=tf.float32, trainable=False)
        self._best_epoch = tf.Variable(-1, trainable=False)
        self._wait = tf.Variable(0, trainable=False)

    def validation_loss(self) -> Any:  # noqa: ANN401 - a scalar tensor
        """The training loss over the whole validation split, each sample weighted once."""
        import tensorflow as tf

        total = tf.constant(0.0)
        for b in tf.range(tf.shape(self._x)[0]):
            pred = self._model(self._x[b], training=False)
            total += self._loss_fn(pred, self._y[b], self._mask[b]) * tf.reduce_sum(self._mask[b])
        return total / self._samples

    def after_epoch(self, epoch: Any) -> Any:  # noqa: ANN401 - tensors, traced in the loop
        """Score the epoch (0-based overall) just trained; keep its weights if it is the best;
        return whether training should stop now."""
        import tensorflow as tf

        loss = self.validation_loss()
        improved = loss < self._best_loss - self._min_delta
        for best, weight in zip(self._best, self._weights):
            best.assign(tf.where(improved, weight, best))
        self._best_loss.assign(tf.where(improved, loss, self._best_loss))
        self._best_epoch.assign(tf.where(improved, epoch, self._best_epoch))
        self._wait.assign(tf.where(improved, 0, self._wait + 1))
        return self._wait >= self._patience

    @property
    def stopped(self) -> bool:
        """Whether training has waited `patience` epochs without improvement (read between calls)."""
        return bool(self._wait >= self._patience)

    def restore(self, epochs_run: int) -> StoppingOutcome:
        """Put the best epoch's weights back in the model; what happened. If no epoch gave a
        finite validation loss the weights are left as trained (the divergence checks report it)."""
        if int(self._best_epoch) >= 0:
            for weight, best in zip(self._weights, self._best):
                weight.assign(best)
        return StoppingOutcome(epochs_run, int(self._best_epoch) + 1, float(self._best_loss))
