"""What quantisation costs: accuracy of the converted model itself on the test split.

The converted flatbuffer is run on the host, never the Keras model: with the TFLM runtime
(the kernels the board runs) where TFLM accepts the model, else with the TensorFlow Lite
interpreter (hybrid and float16 models, which TFLM refuses). Int8 models are fed and read
through their own input/output scale and zero point, as firmware would.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tinyexp.core.errors import DivergenceError
from tinyexp.model.sources import import_tensorflow
from tinyexp.tflm.graph import ModelGraph
from tinyexp.tflm.runtime import TflmModel


@dataclass(frozen=True)
class TensorCodec:
    """Maps float values to a tensor's stored dtype and back (identity for float tensors)."""

    dtype: np.dtype
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> "TensorCodec":
        dtype = np.dtype(details["dtype"])
        qp = details.get("quantization_parameters") or {}
        scales = np.asarray(qp.get("scales", []), dtype=np.float64)
        zps = np.asarray(qp.get("zero_points", []), dtype=np.int64)
        if dtype.kind in "iu" and scales.size:
            return cls(dtype, float(scales[0]), int(zps[0]))
        return cls(dtype, 1.0, 0)

    @property
    def quantised(self) -> bool:
        return self.dtype.kind in "iu"

    def encode(self, values: np.ndarray) -> np.ndarray:
        if not self.quantised:
            return np.asarray(values, dtype=self.dtype)
        info = np.iinfo(self.dtype)
        q = np.round(np.asarray(values, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def decode(self, raw: np.ndarray) -> np.ndarray:
        if not self.quantised:
            return np.asarray(raw, dtype=np.float32)
        return ((np.asarray(raw, dtype=np.float64) - self.zero_point) * self.scale).astype(np.float32)


@dataclass(frozen=True)
class HostModel:
    """A converted model runnable on the host, one sample at a time, in float terms."""

    runtime: str
    input_codec: TensorCodec
    output_codec: TensorCodec
    run_raw: Callable[[np.ndarray], np.ndarray]

    def predict(self, x: np.ndarray) -> np.ndarray:
        rows = [self.output_codec.decode(self.run_raw(self.input_codec.encode(s))).reshape(-1) for s in x]
        return np.stack(rows).astype(np.float32)


def _tflite_interpreter_model(model: bytes) -> HostModel:
    import_tensorflow()
    import tensorflow as tf

    with warnings.catch_warnings():  # its deprecation notice names a package we do not need
        warnings.simplefilter("ignore")
        interp = tf.lite.Interpreter(  # reference kernels: no XNNPACK delegate, closest to TFLM's
            model_content=model, num_threads=1,
            experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]

    def run(sample: np.ndarray) -> np.ndarray:
        interp.set_tensor(inp["index"], sample.reshape(inp["shape"]))
        interp.invoke()
        return interp.get_tensor(out["index"]).copy()

    return HostModel("tflite", TensorCodec.from_details(inp), TensorCodec.from_details(out), run)


def host_model(model: bytes, tflm_arena_bytes: int | None) -> HostModel:
    """TFLM if it runs the model (tflm_arena_bytes given), else the TFLite interpreter."""
    if tflm_arena_bytes is None:
        return _tflite_interpreter_model(model)
    tflm = TflmModel(model, tflm_arena_bytes)
    return HostModel("tflm", TensorCodec.from_details(tflm.input_details),
                     TensorCodec.from_details(tflm.output_details), tflm.invoke)


@dataclass(frozen=True)
class Accuracy:
    """Test-split metrics of one converted model, by task, and the runtime that computed them:
    regression test_mse, test_mae; classification test_accuracy (top-1) and, for two
    classes, test_auc (of the class-1 score)."""

    metrics: dict[str, float]
    runtime: str
    finite: bool = True  # every output on the test split was a finite number


def regression_metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    err = pred - y.reshape(len(y), -1)
    return {"test_mse": float(np.mean(err**2)), "test_mae": float(np.mean(np.abs(err)))}


def classification_metrics(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy; for two classes also the ROC AUC of output 1 minus output 0, which
    orders samples the same way whether the model outputs logits or probabilities."""
    metrics = {"test_accuracy": float(np.mean(np.argmax(pred, axis=-1) == labels))}
    if pred.shape[-1] == 2 and len(np.unique(labels)) == 2:
        from sklearn.metrics import roc_auc_score

        metrics["test_auc"] = float(roc_auc_score(labels, pred[:, 1] - pred[:, 0]))
    return metrics


def accuracy(model: HostModel, x: np.ndarray, y: np.ndarray, task: str = "regression") -> Accuracy:
    """The task's metrics of the model's predictions on (x, y)."""
    pred = model.predict(x)
    metrics = classification_metrics(pred, y) if task == "classification" else regression_metrics(pred, y)
    return Accuracy(metrics, model.runtime, bool(np.isfinite(pred).all()))


def degenerate_quantisation(graph: ModelGraph) -> str | None:
    """The first quantised tensor whose parameters cannot represent anything (a scale that is
    zero, negative or not finite, or a zero point outside its dtype), as text; else None.
    Such parameters come from non-finite weights or ranges, and the int8 model is garbage."""
    for tensor in graph.tensors:
        try:
            dtype = np.dtype(tensor.dtype)
        except TypeError:  # a TFLite type NumPy does not name (string, resource, ...)
            continue
        scales = np.asarray(tensor.scales, dtype=np.float64)
        zps = np.asarray(tensor.zero_points, dtype=np.int64)
        if dtype.kind not in "iu" or not scales.size:
            continue
        info = np.iinfo(dtype) if dtype.itemsize <= 2 else np.iinfo(np.int64)
        if not (np.isfinite(scales) & (scales > 0)).all() or ((zps < info.min) | (zps > info.max)).any():
            zero_points = f"{zps.min()}..{zps.max()}" if zps.size else "none"
            return (f"tensor {tensor.index} ({dtype.name}) has scale {scales.min():g}..{scales.max():g}, "
                    f"zero point {zero_points}")
    return None


def check_result(graph: ModelGraph, acc: Accuracy, trained: bool = True) -> None:
    """Refuse a converted model that cannot be a result: non-finite outputs on the test split,
    or degenerate quantisation parameters. Raises DivergenceError (the job ends FAILED and
    nothing is deployed or measured). `trained` is False for a .tflite used as it is: nothing
    was trained, so the message points at the file, not at training."""
    if not acc.finite and not trained:
        raise DivergenceError(f"the .tflite model gives non-finite outputs on the test split ({acc.runtime}); "
                              "it was used as it is (not trained here): its weights hold inf/NaN or its "
                              "arithmetic overflows on this data; check the model file against the dataset")
    if not acc.finite:
        raise DivergenceError(f"the converted model gives non-finite outputs on the test split "
                              f"({acc.runtime}); its weights are not usable (training diverged, or the "
                              "model file's weights hold inf/NaN)")
    why = degenerate_quantisation(graph)
    if why is not None:
        raise DivergenceError(f"the converted model's quantisation is degenerate: {why}")
