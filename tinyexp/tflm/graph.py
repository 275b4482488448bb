"""The one reader of a .tflite flatbuffer: `read_graph(model) -> ModelGraph`.

A job parses its model once, here, and every analysis reads the typed graph that results:
the model statistics (tinyexp.tflm.inspect), the per-operator records and table
(tinyexp.tflm.operators) and the latency estimator (tinyexp.estimate). So there is one idea
of what a weight is, one MAC formula and one set of operators that multiply by weights.

The graph is read from the flatbuffer itself (with the schema module that ships in the
`tflite-micro` package), never from the Keras model it came from, because the converter
changes what is stored: it drops all-zero biases, leaves small tensors unquantised in
dynamic-range mode and adds DEQUANTIZE operators for float16 weights. Only subgraph 0, the
one TFLM invokes, is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

from tinyexp.core.errors import TinyexpError

# The operators that multiply activations by weights: the "layers" of a net, the only
# operators with MACs (the convention of published MAC counts).
MAC_OPERATORS = frozenset({"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"})
_POOL_OPERATORS = frozenset({"AVERAGE_POOL_2D", "MAX_POOL_2D"})
_OP_NAMES = {code: name for name, code in vars(schema_fb.BuiltinOperator).items()
             if not name.startswith("_")}
_DTYPE_NAMES = {code: name.lower() for name, code in vars(schema_fb.TensorType).items()
                if not name.startswith("_")}


def batch_one_elements(shape: Sequence[int]) -> int:
    """Elements of an activation for batch 1: a leading batch dimension counts as 1."""
    dims = [int(d) for d in shape]
    if len(dims) > 1:
        dims[0] = 1
    return math.prod(dims)


@dataclass(frozen=True)
class GraphTensor:
    """One tensor: its shape as stored (batch dimension included), its element type, and
    whether its values are stored in the file (a weight or bias, not an activation)."""

    index: int
    shape: tuple[int, ...]
    dtype: str
    constant: bool
    # Per-tensor quantisation (real = scale * (q - zero_point)); None for a float tensor or
    # one quantised per channel (a weight: what a firmware feeds and reads is per tensor).
    scale: float | None = None
    zero_point: int | None = None
    # Every quantisation parameter as stored (one per channel for a per-channel weight).
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()

    @property
    def elements(self) -> int:
        """Elements per inference with batch 1."""
        return batch_one_elements(self.shape)

    @property
    def stored_elements(self) -> int:
        """Every element of the tensor as stored (weights have no batch dimension)."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class GraphOperator:
    """One operator in execution order.

    `inputs` are tensor indices as stored (-1 for an absent optional input); `weights` has,
    for each input, the constant tensor holding its values (the input itself, or the constant
    a DEQUANTIZE expands into it) and None for an activation or an absent input. `window` is
    the filter's or pool's height x width (1 for the rest); `macs` are per inference, batch 1.
    """

    index: int
    type: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    weights: tuple[int | None, ...]
    window: int
    strides: tuple[int, int]
    macs: int

    @property
    def present_inputs(self) -> tuple[tuple[int, int | None], ...]:
        """(tensor index, its weight or None) of every input that is present."""
        return tuple((i, w) for i, w in zip(self.inputs, self.weights) if i >= 0)


@dataclass(frozen=True)
class ModelGraph:
    """Subgraph 0 of a .tflite model: what every analysis of the model reads."""

    size_bytes: int
    tensors: tuple[GraphTensor, ...]
    operators: tuple[GraphOperator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def _object_tree(model: bytes) -> Any:  # noqa: ANN401 - schema_fb.ModelT has no stubs
    """The object tree of the flatbuffer, or a TinyexpError saying it is not a TFLite model."""
    if len(model) < 8 or not schema_fb.Model.ModelBufferHasIdentifier(model, 0):
        raise TinyexpError(
            "not a TFLite model: the file lacks the 'TFL3' flatbuffer identifier")
    try:
        tree = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(model, 0))
    except Exception as exc:  # flatbuffers raises assorted errors on a damaged file
        raise TinyexpError(f"damaged TFLite model: {exc}") from exc
    if not tree.subgraphs:
        raise TinyexpError("damaged TFLite model: it has no subgraph")
    return tree


def _op_name(tree: Any, op: Any) -> str:  # noqa: ANN401
    code = tree.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema_fb.BuiltinOperator.CUSTOM:
        custom = code.customCode
        return custom.decode() if isinstance(custom, bytes) else str(custom)
    return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _tensor(tree: Any, index: int, raw: Any) -> GraphTensor:  # noqa: ANN401
    buffer_index = raw.buffer
    buffer = tree.buffers[buffer_index] if buffer_index > 0 else None
    constant = buffer is not None and (
        (buffer.data is not None and len(buffer.data) > 0) or getattr(buffer, "offset", 0) > 1)
    return GraphTensor(index, tuple(int(d) for d in (raw.shape if raw.shape is not None else [])),
                       _DTYPE_NAMES.get(raw.type, f"type{raw.type}"), constant, *_quantisation(raw))


def _quantisation(raw: Any) -> tuple[float | None, int | None, tuple[float, ...], tuple[int, ...]]:  # noqa: ANN401
    """(scale, zero point) of a tensor quantised with one scale, else (None, None); then all
    its scales and zero points."""
    q = raw.quantization
    scales = () if q is None or q.scale is None else tuple(float(v) for v in q.scale)
    zero_points = () if q is None or q.zeroPoint is None else tuple(int(v) for v in q.zeroPoint)
    if len(scales) != 1:
        return None, None, scales, zero_points
    return scales[0], zero_points[0] if zero_points else 0, scales, zero_points


def _macs(kind: str, filter_shape: Sequence[int], output_elements: int) -> int:
    """Multiply-accumulates for batch 1 from the filter shape and the output's elements."""
    if kind == "FULLY_CONNECTED":  # weights [out_features, in_features]
        return output_elements * filter_shape[-1]
    if kind == "CONV_2D":  # filter [out_ch, kh, kw, in_ch]: each output sums kh*kw*in_ch
        return output_elements * filter_shape[1] * filter_shape[2] * filter_shape[3]
    if kind == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, out_ch]
        return output_elements * filter_shape[1] * filter_shape[2]
    return 0


def _window_and_strides(kind: str, options: Any, filter_shape: Sequence[int] | None  # noqa: ANN401
                        ) -> tuple[int, tuple[int, int]]:
    strides = (int(getattr(options, "strideH", 1) or 1), int(getattr(options, "strideW", 1) or 1))
    if kind in _POOL_OPERATORS:
        return int(options.filterHeight) * int(options.filterWidth), strides
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D") and filter_shape is not None:
        return filter_shape[1] * filter_shape[2], strides
    return 1, (1, 1)


class _Reader:
    """The lookups that turn raw operators into GraphOperators: which op produced a tensor,
    and which inputs are weights."""

    def __init__(self, tree: Any, tensors: tuple[GraphTensor, ...]) -> None:  # noqa: ANN401
        self.tree = tree
        self.tensors = tensors
        self.raw_ops = tree.subgraphs[0].operators or []
        self.names = [_op_name(tree, op) for op in self.raw_ops]
        self.producer = {int(out): n for n, op in enumerate(self.raw_ops) for out in op.outputs}

    def weight(self, index: int) -> int | None:
        """The constant tensor holding this input's values, seen through a DEQUANTIZE."""
        if index < 0:
            return None
        if self.tensors[index].constant:
            return index
        n = self.producer.get(index)
        if n is not None and self.names[n] == "DEQUANTIZE":
            source = int(self.raw_ops[n].inputs[0])
            return source if self.tensors[source].constant else None
        return None

    def operator(self, n: int) -> GraphOperator:
        raw, kind = self.raw_ops[n], self.names[n]
        inputs = tuple(int(i) for i in raw.inputs)
        outputs = tuple(int(i) for i in raw.outputs)
        present = [i for i in inputs if i >= 0]
        filter_shape = (self.tensors[present[1]].shape
                        if kind in MAC_OPERATORS and len(present) > 1 else None)
        window, strides = _window_and_strides(kind, raw.builtinOptions, filter_shape)
        macs = (0 if filter_shape is None
                else _macs(kind, filter_shape, self.tensors[outputs[0]].elements))
        return GraphOperator(n, kind, inputs, outputs, tuple(self.weight(i) for i in inputs),
                             window, strides, macs)


def read_graph(model: bytes) -> ModelGraph:
    """Parse a .tflite flatbuffer into its graph. TinyexpError for bytes that are not a
    readable TFLite model."""
    data = bytes(model)
    tree = _object_tree(data)
    subgraph = tree.subgraphs[0]
    tensors = tuple(_tensor(tree, i, raw) for i, raw in enumerate(subgraph.tensors or []))
    reader = _Reader(tree, tensors)
    return ModelGraph(
        size_bytes=len(data), tensors=tensors,
        operators=tuple(reader.operator(n) for n in range(len(reader.raw_ops))),
        inputs=tuple(int(i) for i in subgraph.inputs), outputs=tuple(int(i) for i in subgraph.outputs))
