"""What an operator costs, as named work counts (features) whose cycle prices are fitted.

cycles(model) = invoke + io_elements * (model input + output elements)   harness and Invoke()
              + sum over operators of [ per_operator + sum_f price[type/dtype:f] * f ]

Features per operator type (each priced per type and kernel dtype):
- FULLY_CONNECTED: macs, outputs (bias, activation, requantisation per output);
- CONV_2D: macs, outputs, taps = outputs * window (a float kernel's per-tap loop start,
  = macs / in_channels) and gather = output positions * window * in_channels (the input
  patch an int8 kernel copies, im2col, = macs / out_channels). taps and gather are the
  channel-count effect: a conv with few input or output channels pays them over few MACs,
  which is why small-channel convs cost several times more per MAC than wide ones. All
  three count only the kernel taps that fall inside the input (live_fraction): TFLM's
  reference conv skips taps in SAME padding, and a 1-D signal run as an Nx1x1 image through
  a k x k kernel (published nets do this) leaves k-1 of every k columns in padding;
- DEPTHWISE_CONV_2D: macs, outputs;
- pooling: outputs * window (the taps inside the input, live_fraction); ADD: outputs; MEAN, SOFTMAX, LOGISTIC, QUANTIZE,
  DEQUANTIZE and anything else: input elements; RESHAPE: nothing beyond per_operator.
invoke, io_elements and per_operator are shared by a source's dtypes: they are the
interpreter's and the harness's, not the kernels'.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, Sequence

from tinyexp.tflm.operators import Operator

SHARED_TERMS = ("invoke", "per_operator")
# CMSIS-NN's s16 convolution wrapper runs its DSP kernel only when the kernel volume
# (filter width x height x input channels) is below 512, else a plain C loop.
S16_FAST_CONV_MAX_VOLUME = 512
_POOLS = frozenset({"AVERAGE_POOL_2D", "MAX_POOL_2D"})
_NO_WORK = frozenset({"RESHAPE"})


def dtype_class(op: Operator) -> str:
    """The kernel family an operator's price depends on (float32, int8, int16, ...)."""
    return op.dtype


def group(op: Operator) -> tuple[str, str]:
    """(type, dtype): the unit a source has or lacks data for."""
    return op.type, dtype_class(op)


@lru_cache(maxsize=4096)
def _live_taps(size: int, out: int, kernel: int, stride: int) -> int:
    """Kernel taps, summed over the output positions of one axis, that fall inside an input
    of `size` (SAME padding puts the smaller half of the padding before; VALID has none)."""
    before = max((out - 1) * stride + kernel - size, 0) // 2
    return sum(max(min(o * stride - before + kernel, size) - max(o * stride - before, 0), 0) for o in range(out))


def _kernel(op: Operator) -> tuple[int, int] | None:
    """A conv's filter height and width, or a pool's (its window, when square: every pool of
    the calibration nets is; a non-square one is not split and counts all its taps)."""
    if op.type == "CONV_2D" and op.filter is not None:
        return op.filter.shape[1], op.filter.shape[2]
    side = math.isqrt(op.window)
    return (side, side) if op.type in _POOLS and side * side == op.window else None


def live_fraction(op: Operator) -> float:
    """The share of a CONV_2D's or pool's nominal taps (output positions x window) that read
    the input rather than its padding (dilation 1, as every calibration net has): TFLM's
    reference kernels skip the others."""
    kernel = _kernel(op)
    if kernel is None or not op.inputs or len(op.inputs[0].shape) != 4 or len(op.output.shape) != 4:
        return 1.0
    (_, height, width, _), (_, out_h, out_w, _) = op.inputs[0].shape, op.output.shape
    nominal = out_h * kernel[0] * out_w * kernel[1]
    live = _live_taps(height, out_h, kernel[0], op.strides[0]) * _live_taps(width, out_w, kernel[1], op.strides[1])
    return live / nominal if nominal else 1.0


def work(op: Operator) -> dict[str, float]:
    """The operator's own features (unprefixed names), without per_operator."""
    if op.type == "FULLY_CONNECTED":
        return {"macs": op.macs, "outputs": op.output_elements}
    if op.type == "CONV_2D":
        positions, live = op.output_elements / max(op.out_channels, 1), live_fraction(op)
        features = {"macs": op.macs * live, "outputs": op.output_elements,
                    "taps": op.output_elements * op.window * live, "gather": positions * op.window * op.in_channels * live}
        if op.dtype == "int16" and op.window * op.in_channels >= S16_FAST_CONV_MAX_VOLUME:
            features["basic_kernel_macs"] = op.macs * live
        return features
    if op.type == "DEPTHWISE_CONV_2D":
        return {"macs": op.macs, "outputs": op.output_elements}
    if op.type in _POOLS:
        return {"window_elements": op.output_elements * op.window * live_fraction(op)}
    if op.type == "ADD":
        return {"outputs": op.output_elements}
    if op.type in _NO_WORK:
        return {}
    return {"elements": op.input_elements}


def term(op_group: tuple[str, str], feature: str) -> str:
    return f"{op_group[0]}/{op_group[1]}:{feature}"


def operator_features(op: Operator) -> dict[str, float]:
    """Named features of one operator, prefixed with its group, plus per_operator."""
    features = {term(group(op), name): float(value) for name, value in work(op).items()}
    features["per_operator"] = 1.0
    features[f"per_operator/{dtype_class(op)}"] = 1.0
    return features


def io_elements(ops: Sequence[Operator]) -> int:
    """Elements the harness copies in and out: the first operator's inputs and the last's
    output (batch 1)."""
    if not ops:
        return 0
    return ops[0].input_elements + ops[-1].output_elements


def io_dtype(ops: Sequence[Operator]) -> str:
    """The model input's element type: what the harness's copy loop moves."""
    return ops[0].inputs[0].dtype if ops and ops[0].inputs else "none"


def model_features(ops: Sequence[Operator]) -> dict[str, float]:
    """Sum of operator features plus the model-level ones."""
    total = {"invoke": 1.0}
    if ops:
        total[f"io/{io_dtype(ops)}:elements"] = float(io_elements(ops))
    for op in ops:
        for name, value in operator_features(op).items():
            total[name] = total.get(name, 0.0) + value
    return total


def groups(ops: Iterable[Operator]) -> set[tuple[str, str]]:
    return {group(op) for op in ops if op.type not in _NO_WORK}

