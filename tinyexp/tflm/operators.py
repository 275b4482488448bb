"""Per-operator analysis of a .tflite flatbuffer: one record per operator TFLM invokes, in
execution order, with the shapes, dtypes and work counts a per-operator latency model and a
per-operator table need.

Counts are per inference with batch 1 and are read from the model's graph
(tinyexp.tflm.graph, the same reading as the model statistics'), so they describe what the
board runs, after the converter folded BatchNormalization and fused activations. MACs are
counted for the graph's MAC_OPERATORS (the convention of the published MAC counts); pooling,
ADD, MEAN and SOFTMAX do element work, described by their element counts and window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from tinyexp.tflm.graph import MAC_OPERATORS, GraphOperator, ModelGraph, batch_one_elements, read_graph


@dataclass(frozen=True)
class Tensor:
    """Shape (batch dimension as stored) and element type of one tensor."""

    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Operator:
    """One operator as TFLM invokes it.

    inputs are the activation inputs (tensors computed at run time); weights and biases
    are in `filter` and `params`. `window` is the filter's or pool's height x width (1 for
    the rest); `dtype` is the arithmetic the kernel does: its first activation input's type,
    except QUANTIZE, named after the type it produces.
    """

    index: int
    type: str
    dtype: str
    inputs: tuple[Tensor, ...]
    output: Tensor
    filter: Tensor | None
    macs: int
    params: int
    input_elements: int
    output_elements: int
    in_channels: int
    out_channels: int
    window: int
    strides: tuple[int, int]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (lists for tuples)."""
        data = asdict(self)
        data["inputs"] = [{"shape": list(t.shape), "dtype": t.dtype} for t in self.inputs]
        data["output"] = {"shape": list(self.output.shape), "dtype": self.output.dtype}
        data["filter"] = (None if self.filter is None else
                          {"shape": list(self.filter.shape), "dtype": self.filter.dtype})
        data["strides"] = list(self.strides)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Operator":
        """The inverse of as_dict (the cache of calibration operator lists is JSON)."""
        def tensor(item: dict[str, Any]) -> Tensor:
            return Tensor(tuple(item["shape"]), item["dtype"])

        fields = dict(data)
        fields["inputs"] = tuple(tensor(t) for t in data["inputs"])
        fields["output"] = tensor(data["output"])
        fields["filter"] = None if data["filter"] is None else tensor(data["filter"])
        fields["strides"] = tuple(data["strides"])
        return cls(**fields)


def _channels(shape: Sequence[int]) -> int:
    return int(shape[-1]) if len(shape) > 0 else 1


def _operator(graph: ModelGraph, op: GraphOperator) -> Operator:
    """The record of one graph operator: activations apart from weights, the filter as the
    kernel sees it (its shape, the dtype stored in the file)."""
    def tensor(index: int) -> Tensor:
        return Tensor(graph.tensors[index].shape, graph.tensors[index].dtype)

    present = op.present_inputs
    weights = [w for _, w in present if w is not None]
    inputs = tuple(tensor(i) for i, w in present if w is None)
    output = tensor(op.outputs[0])
    filter_tensor = None
    if op.type in MAC_OPERATORS and len(present) > 1:
        index, stored = present[1]
        filter_tensor = Tensor(graph.tensors[index].shape, graph.tensors[stored if stored is not None else index].dtype)
    first_input = inputs[0] if inputs else output
    return Operator(
        index=op.index, type=op.type, dtype=output.dtype if op.type == "QUANTIZE" else first_input.dtype,
        inputs=inputs, output=output, filter=filter_tensor, macs=op.macs,
        params=sum(graph.tensors[w].stored_elements for w in weights),
        input_elements=sum(batch_one_elements(t.shape) for t in inputs),
        output_elements=batch_one_elements(output.shape),
        in_channels=_channels(first_input.shape), out_channels=_channels(output.shape),
        window=op.window, strides=op.strides)


def graph_operators(graph: ModelGraph) -> tuple[Operator, ...]:
    """Every operator of the model's graph, in execution order."""
    return tuple(_operator(graph, op) for op in graph.operators)


def analyse_operators(model: bytes) -> tuple[Operator, ...]:
    """Parse a .tflite flatbuffer and list its operators (for callers holding bytes, not a
    graph). Raises TinyexpError for bytes that are not a readable TFLite model."""
    return graph_operators(read_graph(model))


def operator_table(operators: Sequence[Operator]) -> list[dict[str, Any]]:
    """One flat row per operator (index, type, dtype, shapes, MACs, params, elements) for
    logging as a table artifact."""
    def shape(tensor: Tensor | None) -> str:
        return "" if tensor is None else "x".join(str(d) for d in tensor.shape)

    return [{"index": op.index, "type": op.type, "dtype": op.dtype,
             "input_shape": shape(op.inputs[0] if op.inputs else None),
             "filter_shape": shape(op.filter), "output_shape": shape(op.output),
             "macs": op.macs, "params": op.params, "input_elements": op.input_elements,
             "output_elements": op.output_elements} for op in operators]


def total_macs(operators: Sequence[Operator]) -> int:
    """MACs of the whole model (the convention of published MAC counts)."""
    return sum(op.macs for op in operators)
