"""Per-operator analysis of a .tflite flatbuffer: one record per operator TFLM invokes, in
execution order, with the shapes, dtypes and work counts a per-operator latency model and a
per-operator table need.

Counts are per inference with batch 1 and are read from the flatbuffer (through the same
parsing as tinyexp's model inspection), so they describe what the board runs, after the
converter folded BatchNormalization and fused activations. MACs are counted for the
operators that multiply by weights (FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, the same
convention as the published MAC counts); pooling, ADD, MEAN and SOFTMAX do element work,
described by their element counts and window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

# The flatbuffer parsing is the model inspector's; one parser, one idea of "constant".
from tinyexp.tflm.inspect import _elements, _elements_all, _Graph, _parse

MAC_OPERATORS = frozenset({"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"})
_POOL_OPERATORS = frozenset({"AVERAGE_POOL_2D", "MAX_POOL_2D"})


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


def _macs(kind: str, filter_shape: Sequence[int], output_elements: int) -> int:
    """Multiply-accumulates for batch 1 from the filter and output sizes."""
    if kind == "FULLY_CONNECTED":  # weights [out_features, in_features]
        return output_elements * int(filter_shape[-1])
    if kind == "CONV_2D":  # filter [out_ch, kh, kw, in_ch]: each output sums kh*kw*in_ch
        return output_elements * int(filter_shape[1]) * int(filter_shape[2]) * int(filter_shape[3])
    if kind == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, out_ch]
        return output_elements * int(filter_shape[1]) * int(filter_shape[2])
    return 0


def _window_and_strides(kind: str, op: Any, filter_shape: Sequence[int] | None) -> tuple[int, tuple[int, int]]:  # noqa: ANN401
    options = op.builtinOptions
    strides = (int(getattr(options, "strideH", 1) or 1), int(getattr(options, "strideW", 1) or 1))
    if kind in _POOL_OPERATORS:
        return int(options.filterHeight) * int(options.filterWidth), strides
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D") and filter_shape is not None:
        return int(filter_shape[1]) * int(filter_shape[2]), strides
    return 1, (1, 1)


def analyse_operators(model: bytes) -> tuple[Operator, ...]:
    """Every operator of subgraph 0 (the one TFLM invokes), in execution order.

    Raises TinyexpError for bytes that are not a readable TFLite model.
    """
    g = _Graph(_parse(bytes(model)))
    result = []
    for index, op in enumerate(g.operators):
        kind = g.op_name(op)
        indices = [int(i) for i in op.inputs if int(i) >= 0]
        weights = [i for i in indices if g.stored_weight(i) is not None]
        activations = [i for i in indices if i not in weights]
        out_index = int(op.outputs[0])
        output = Tensor(tuple(int(d) for d in g.tensors[out_index].shape), g.dtype(out_index))
        output_elements = _elements(output.shape)
        filter_tensor = None
        if kind in MAC_OPERATORS and len(indices) > 1:
            stored = g.stored_weight(indices[1])
            shape = tuple(int(d) for d in g.tensors[indices[1]].shape)
            filter_tensor = Tensor(shape, g.dtype(stored if stored is not None else indices[1]))
        inputs = tuple(Tensor(tuple(int(d) for d in g.tensors[i].shape), g.dtype(i)) for i in activations)
        window, strides = _window_and_strides(kind, op, None if filter_tensor is None else filter_tensor.shape)
        first_input = inputs[0] if inputs else output
        dtype = output.dtype if kind == "QUANTIZE" else first_input.dtype
        result.append(Operator(
            index=index, type=kind, dtype=dtype, inputs=inputs, output=output, filter=filter_tensor,
            macs=0 if filter_tensor is None else _macs(kind, filter_tensor.shape, output_elements),
            params=sum(_elements_all(g.tensors[g.stored_weight(i)].shape) for i in weights),
            input_elements=sum(_elements(t.shape) for t in inputs),
            output_elements=output_elements,
            in_channels=_channels(first_input.shape), out_channels=_channels(output.shape),
            window=window, strides=strides))
    return tuple(result)


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
