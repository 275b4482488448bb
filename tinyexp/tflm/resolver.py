"""The `MicroMutableOpResolver` registration a model needs: each builtin operator's TFLM method.

A sketch registers exactly the operators its model uses: fewer and TFLM refuses the model at
AllocateTensors ("Didn't find op for builtin opcode"), more and every extra kernel is linked
into flash. TFLM names the method after the builtin operator (`FULLY_CONNECTED` ->
`AddFullyConnected`, `CONV_2D` -> `AddConv2D`, `GATHER_ND` -> `AddGatherNd`); the few names
that do not follow that rule are listed. tests/unit/test_package_resolver.py checks the rule
against the method list of TFLM's micro_mutable_op_resolver.h.
"""

from __future__ import annotations

import re
from typing import Sequence

from tinyexp.core.errors import TinyexpError

# Builtin operators whose TFLM method is not the CamelCase of their name.
_IRREGULAR = {
    "BATCH_MATMUL": "BatchMatMul",
    "CUMSUM": "CumSum",
    "PADV2": "PadV2",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTM",
}
# TFLM's one custom operator with a method of its own (registered by its custom name).
_CUSTOM = {"TFLite_Detection_PostProcess": "DetectionPostprocess"}
_SPATIAL = re.compile(r"\d+D")  # "2D" in CONV_2D stays upper case


def resolver_method(operator: str) -> str:
    """The MicroMutableOpResolver method that registers `operator` (a builtin name as
    tinyexp.tflm.graph reads it, e.g. FULLY_CONNECTED -> AddFullyConnected)."""
    if operator in _CUSTOM:
        return "Add" + _CUSTOM[operator]
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", operator) or operator.startswith("BUILTIN_"):
        raise TinyexpError(f"operator {operator!r} is a custom operator: TFLM has no Add method for it; "
                           "register its kernel with MicroMutableOpResolver::AddCustom in your sketch")
    if operator in _IRREGULAR:
        return "Add" + _IRREGULAR[operator]
    return "Add" + "".join(part if _SPATIAL.fullmatch(part) else part.capitalize()
                           for part in operator.split("_"))


def resolver_methods(operators: Sequence[str]) -> tuple[str, ...]:
    """Each distinct operator's method once, in the order the model first runs it."""
    return tuple(dict.fromkeys(resolver_method(op) for op in operators))
