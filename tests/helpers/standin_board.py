"""A STAND-IN board for the calibration test: not hardware, a documented per-operator cost
model that plays the part of a board whose timing tinyexp does not know in advance.

    cycles(model) = 6000 (invoke) + 3 * (model input + output elements)
                  + sum over operators of:
        350                                      (each operator)
        FULLY_CONNECTED:    2.4 * MACs + 18 * outputs
        CONV_2D:            1.1 * MACs + 14 * outputs + 7 * input patch elements (im2col)
        DEPTHWISE_CONV_2D:  3.2 * MACs + 10 * outputs
        pooling, MEAN, ADD, SOFTMAX, QUANTIZE, ...: 11 * input elements
        RESHAPE:            nothing more
        and any operator with more than 20000 MACs pays 4% more per MAC (a cache effect that
        the estimator's price list does not have, so its fit cannot be exact).

Clock 100 MHz. The per-operator profile a run logs is each operator's share of this.
"""

from __future__ import annotations

from tinyexp.core.config import BoardConfig
from tinyexp.estimate.opcost import io_elements
from tinyexp.tflm.operators import Operator

CLOCK_HZ = 100_000_000
BOARD = BoardConfig(name="standin_m4", clock_hz=CLOCK_HZ)


def operator_cycles(op: Operator) -> float:
    cycles = 350.0
    per_mac = {"FULLY_CONNECTED": 2.4, "CONV_2D": 1.1, "DEPTHWISE_CONV_2D": 3.2}.get(op.type)
    if per_mac is not None:
        if op.macs > 20_000:
            per_mac *= 1.04
        cycles += per_mac * op.macs
        cycles += {"FULLY_CONNECTED": 18, "CONV_2D": 14, "DEPTHWISE_CONV_2D": 10}[op.type] * op.output_elements
        if op.type == "CONV_2D":
            positions = op.output_elements / max(op.out_channels, 1)
            cycles += 7 * positions * op.window * op.in_channels
    elif op.type != "RESHAPE":
        cycles += 11 * op.input_elements
    return cycles


def profile_us(ops: list[Operator]) -> list[float]:
    return [operator_cycles(op) / CLOCK_HZ * 1e6 for op in ops]


def latency_us(ops: list[Operator]) -> float:
    return (6000 + 3 * io_elements(ops)) / CLOCK_HZ * 1e6 + sum(profile_us(ops))
