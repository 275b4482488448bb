"""What a .tflite model contains: parameters, MACs, operators, tensor types, kernel kind.

The figures are read from the model's graph (tinyexp.tflm.graph, the flatbuffer as the
converter stored it), never from the Keras model it came from: the latency estimate and the
size/fit analysis need what the microcontroller will actually run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from tinyexp.tflm.graph import MAC_OPERATORS, GraphOperator, ModelGraph, read_graph

_FLOAT_DTYPES = frozenset({"float32", "float16", "float64", "bfloat16"})


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
        float16 (float16 weights) | int16x8 (int8 weights, int16 activations) | mixed (any
        other combination)."""
        if self.weight_dtype == "float16":
            return "float16"
        if self.weight_dtype == "int8" and self.input_dtype in _FLOAT_DTYPES:
            return "hybrid"
        if self.weight_dtype == "int8" and self.input_dtype == "int16":
            return "int16x8"
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
    kernel_kind: str  # float32 | int8 | hybrid | float16 | int16x8 | mixed: how the kernels compute

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


def _layer(graph: ModelGraph, op: GraphOperator) -> tuple[LayerStats, set[int]]:
    """Statistics of one compute operator and the indices of the weight tensors it owns."""
    stored = op.weights[1:]
    owned = {i for i in stored if i is not None}
    weight = stored[0] if stored and stored[0] is not None else op.inputs[1]
    stats = LayerStats(
        op=op.type,
        macs=op.macs,
        outputs=graph.tensors[op.outputs[0]].elements,
        params=sum(graph.tensors[i].stored_elements for i in owned),
        weight_dtype=graph.tensors[weight].dtype,
        input_dtype=graph.tensors[op.inputs[0]].dtype,
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


def model_stats(graph: ModelGraph) -> ModelStats:
    """Summarise a model's graph for analysis, logging and latency estimates.

    params counts the elements of the constant weight and bias tensors of the compute layers
    (a float16 weight and the float32 copy its DEQUANTIZE makes count once); macs sums the
    multiply-accumulates of those layers for one inference.
    """
    names = [op.type for op in graph.operators]
    layers: list[LayerStats] = []
    weights: set[int] = set()
    for op in graph.operators:
        if op.type in MAC_OPERATORS:
            stats, owned = _layer(graph, op)
            layers.append(stats)
            weights |= owned
    first_in, first_out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    return ModelStats(
        model_bytes=graph.size_bytes,
        params=sum(graph.tensors[i].stored_elements for i in weights),
        macs=sum(layer.macs for layer in layers),
        ops=tuple(names),
        op_counts=_count(names),
        tensor_dtypes=_count([tensor.dtype for tensor in graph.tensors]),
        input_dtype=first_in.dtype,
        output_dtype=first_out.dtype,
        input_len=first_in.elements,
        output_len=first_out.elements,
        layers=tuple(layers),
        kernel_kind=_kernel_kind(layers, first_in.dtype),
    )


def inspect_model(model: bytes) -> ModelStats:
    """Parse a .tflite flatbuffer and summarise it (for callers holding bytes, not a graph)."""
    return model_stats(read_graph(model))
