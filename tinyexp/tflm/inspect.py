"""What a .tflite flatbuffer contains: parameters, MACs, operators, tensor types, kernel kind.

The figures are read from the flatbuffer itself (with the schema module that ships in the
`tflite-micro` package), never from the Keras model it came from, because the converter
changes what is stored: it drops all-zero biases, leaves small tensors unquantised in
dynamic-range mode, and adds DEQUANTIZE operators for float16 weights. The latency
estimate and the size/fit analysis need what the microcontroller will actually run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

from tinyexp.core.errors import TinyexpError

_OP_NAMES = {code: name for name, code in vars(schema_fb.BuiltinOperator).items()
             if not name.startswith("_")}
_DTYPE_NAMES = {code: name.lower() for name, code in vars(schema_fb.TensorType).items()
                if not name.startswith("_")}
_FLOAT_DTYPES = frozenset({"float32", "float16", "float64", "bfloat16"})
# Operators whose inputs after the first are weights (and bias): the "layers" of the net.
_LAYER_OPS = frozenset({"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"})


@dataclass(frozen=True)
class LayerStats:
    """One compute operator: its work per inference (batch 1) and the types its kernel sees.

    weight_dtype is the dtype stored in the file (float16 even though a DEQUANTIZE turns it
    into float32 before the layer), because that is what decides whether TFLM can run it.
    """

    op: str
    macs: int
    outputs: int
    params: int
    weight_dtype: str
    input_dtype: str

    @property
    def kernel_kind(self) -> str:
        """float32 | int8 (weights and activations) | hybrid (int8 weights, float input) |
        float16 (float16 weights) | mixed (any other combination)."""
        if self.weight_dtype == "float16":
            return "float16"
        if self.weight_dtype == "int8" and self.input_dtype in _FLOAT_DTYPES:
            return "hybrid"
        if self.weight_dtype == self.input_dtype:
            return self.weight_dtype
        return "mixed"


@dataclass(frozen=True)
class ModelStats:
    """The whole model, per inference with batch 1. Counts are elements, sizes are bytes."""

    model_bytes: int
    params: int
    macs: int
    ops: tuple[str, ...]
    op_counts: dict[str, int]
    tensor_dtypes: dict[str, int]
    input_dtype: str
    output_dtype: str
    input_len: int
    output_len: int
    layers: tuple[LayerStats, ...]
    kernel_kind: str  # float32 | int8 | hybrid | float16 | mixed: how the kernels compute

    @property
    def kernel_dtype(self) -> str:
        """The dtype of the compute layers' weights holding most parameters (always a dtype;
        the kind of computation is :attr:`kernel_kind`)."""
        by_dtype: dict[str, int] = {}
        for layer in self.layers:
            by_dtype[layer.weight_dtype] = by_dtype.get(layer.weight_dtype, 0) + layer.params
        return max(by_dtype, key=by_dtype.__getitem__) if by_dtype else self.input_dtype

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (lists instead of tuples) for logging and the CLIs."""
        data = asdict(self)
        data["kernel_dtype"] = self.kernel_dtype
        data["ops"] = list(self.ops)
        data["layers"] = [asdict(layer) for layer in self.layers]
        return data


def _parse(model: bytes) -> Any:  # noqa: ANN401 - schema_fb.ModelT has no stubs
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


def _elements(shape: Sequence[int] | None) -> int:
    """Elements of a tensor for batch 1: a leading batch dimension counts as 1."""
    dims = [int(d) for d in (shape if shape is not None else [])]
    if len(dims) > 1:
        dims[0] = 1
    return math.prod(dims)


def _elements_all(shape: Sequence[int] | None) -> int:
    """Every element of a stored tensor (weights have no batch dimension)."""
    return math.prod(int(d) for d in (shape if shape is not None else []))


class _Graph:
    """Subgraph 0 with the lookups the statistics need: constants and producing operators."""

    def __init__(self, tree: Any) -> None:  # noqa: ANN401
        self.tree = tree
        self.graph = tree.subgraphs[0]
        self.tensors = self.graph.tensors or []
        self.operators = self.graph.operators or []
        self.producer = {int(out): op for op in self.operators for out in op.outputs}

    def op_name(self, op: Any) -> str:  # noqa: ANN401
        code = self.tree.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == schema_fb.BuiltinOperator.CUSTOM:
            custom = code.customCode
            return custom.decode() if isinstance(custom, bytes) else str(custom)
        return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")

    def dtype(self, index: int) -> str:
        return _DTYPE_NAMES.get(self.tensors[index].type, f"type{self.tensors[index].type}")

    def is_constant(self, index: int) -> bool:
        """True when the tensor's values are stored in the file (a weight, not an activation)."""
        buffer_index = self.tensors[index].buffer
        if buffer_index <= 0:
            return False
        buffer = self.tree.buffers[buffer_index]
        return (buffer.data is not None and len(buffer.data) > 0) or getattr(buffer, "offset", 0) > 1

    def stored_weight(self, index: int) -> int | None:
        """The constant tensor holding this input's values, seen through a DEQUANTIZE."""
        if index < 0:
            return None
        if self.is_constant(index):
            return index
        op = self.producer.get(index)
        if op is not None and self.op_name(op) == "DEQUANTIZE" and self.is_constant(int(op.inputs[0])):
            return int(op.inputs[0])
        return None


def _macs(op: str, weight_shape: Sequence[int], output_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one layer for batch 1, from its weight and output shapes."""
    w = [int(d) for d in weight_shape]
    out_elements = _elements(output_shape)
    if op == "FULLY_CONNECTED":  # weights are [out_features, in_features]
        return out_elements * w[-1]
    if op == "CONV_2D":  # filter [out_ch, kh, kw, in_ch]; each output element sums kh*kw*in_ch
        return out_elements * w[1] * w[2] * w[3]
    return out_elements * w[1] * w[2]  # DEPTHWISE_CONV_2D: filter [1, kh, kw, out_ch]


def _layer(g: _Graph, op: Any, name: str) -> tuple[LayerStats, set[int]]:  # noqa: ANN401
    """Statistics of one compute operator and the indices of the weight tensors it owns."""
    inputs = [int(i) for i in op.inputs]
    stored = [g.stored_weight(i) for i in inputs[1:]]
    owned = {i for i in stored if i is not None}
    weight = stored[0] if stored and stored[0] is not None else inputs[1]
    output_shape = g.tensors[int(op.outputs[0])].shape
    stats = LayerStats(
        op=name,
        macs=_macs(name, g.tensors[inputs[1]].shape, output_shape),
        outputs=_elements(output_shape),
        params=sum(_elements_all(g.tensors[i].shape) for i in owned),
        weight_dtype=g.dtype(weight),
        input_dtype=g.dtype(inputs[0]),
    )
    return stats, owned


def _count(names: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts


def _kernel_kind(layers: Sequence[LayerStats], input_dtype: str) -> str:
    """One word for the model's kernels: float16 or hybrid if any layer is, else the common
    kind, or "mixed" when layers differ (say float fallback in a partly quantised model)."""
    kinds = {layer.kernel_kind for layer in layers} or {input_dtype}
    for dominant in ("float16", "hybrid"):
        if dominant in kinds:
            return dominant
    return kinds.pop() if len(kinds) == 1 else "mixed"


def inspect_model(model: bytes) -> ModelStats:
    """Parse a .tflite flatbuffer and summarise it for analysis, logging and latency estimates.

    params counts the elements of the constant weight and bias tensors of the compute layers
    (a float16 weight and the float32 copy its DEQUANTIZE makes count once); macs sums the
    multiply-accumulates of those layers for one inference. Only subgraph 0 (the one TFLM
    invokes) is summarised.
    """
    g = _Graph(_parse(bytes(model)))
    names = [g.op_name(op) for op in g.operators]
    layers: list[LayerStats] = []
    weights: set[int] = set()
    for op, name in zip(g.operators, names):
        if name in _LAYER_OPS:
            stats, owned = _layer(g, op, name)
            layers.append(stats)
            weights |= owned
    first_in, first_out = int(g.graph.inputs[0]), int(g.graph.outputs[0])
    input_dtype = g.dtype(first_in)
    return ModelStats(
        model_bytes=len(model),
        params=sum(_elements_all(g.tensors[i].shape) for i in weights),
        macs=sum(layer.macs for layer in layers),
        ops=tuple(names),
        op_counts=_count(names),
        tensor_dtypes=_count([g.dtype(i) for i in range(len(g.tensors))]),
        input_dtype=input_dtype,
        output_dtype=g.dtype(first_out),
        input_len=_elements(g.tensors[first_in].shape),
        output_len=_elements(g.tensors[first_out].shape),
        layers=tuple(layers),
        kernel_kind=_kernel_kind(layers, input_dtype),
    )
