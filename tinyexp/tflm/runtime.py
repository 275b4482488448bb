"""The TFLM runtime (the `tflite-micro` package): load a model, say why it is refused, run it.

Whether a microcontroller can run a model is decided by loading it with the real TFLM
kernels, never by a list kept here. TFLM writes its reason for refusing a model (the kernel
check that failed) to the C-level stderr, and the Python binding only raises "failed to
allocate tensors"; :func:`capture_native_stderr` collects that text so the refusal names
the operator and the check, as the firmware's own error would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tinyexp.core.errors import TinyexpError
from tinyexp.core.native_output import capture_native_stderr
from tinyexp.tflm.loader import try_load

_MAX_ARENA_BYTES = 64 * 1024 * 1024
_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


class TflmRefusal(TinyexpError):
    """TFLM cannot run this model (unsupported operator or tensor type, or too little arena)."""


@dataclass(frozen=True)
class TflmSupport:
    """Whether TFLM runs a model; if it does, the smallest arena it needs."""

    runs: bool
    reason: str | None
    arena_bytes: int | None  # the smallest arena that allocates: what a sketch must reserve
    arena_used_bytes: int | None = None  # what TFLM's allocation report says it used


def _arena_used_bytes(interp: object) -> int:
    """What TFLM's recording allocator reports it allocated ("Arena allocation total")."""
    with capture_native_stderr() as report:
        interp.print_allocations()  # type: ignore[attr-defined]
    match = _ARENA_TOTAL.search(report[0])
    if match is None:
        raise TinyexpError("TFLM did not report its arena use; the tflite-micro package may have changed its "
                           f"allocation report: {report[0][:200]!r}")
    return int(match.group(1))


def check_support(model: bytes, max_arena_bytes: int = _MAX_ARENA_BYTES) -> TflmSupport:
    """Load the model with TFLM; report the arena it used and needs, or say why it refused.

    One load with a generous arena gives TFLM's own allocation record; the arena a sketch
    must reserve (that record plus prepare-time scratch) is then found by tinyexp.tflm.probe.
    """
    from tinyexp.tflm.probe import required_arena_bytes

    interp, reason = try_load(model, max_arena_bytes)
    if interp is None:
        return TflmSupport(False, reason, None)
    used = _arena_used_bytes(interp)
    return TflmSupport(True, None, required_arena_bytes(model, used), used)


class TflmModel:
    """A model loaded in the TFLM runtime, run one sample at a time as on the board."""

    def __init__(self, model: bytes, arena_bytes: int) -> None:
        interp, reason = try_load(model, arena_bytes)
        if interp is None:
            raise TflmRefusal(f"TFLM refused the model: {reason}")
        self._interp = interp
        self.input_details = interp.get_input_details(0)
        self.output_details = interp.get_output_details(0)

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.input_details["dtype"])

    @property
    def output_dtype(self) -> np.dtype:
        return np.dtype(self.output_details["dtype"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.input_details["shape"])

    def arena_used_bytes(self) -> int:
        """TFLM's own allocation report for this model in this arena."""
        return _arena_used_bytes(self._interp)

    def invoke(self, sample: np.ndarray) -> np.ndarray:
        """Run one sample given in the model's input dtype; return the raw output tensor."""
        data = np.asarray(sample, dtype=self.input_dtype).reshape(self.input_shape)
        self._interp.set_input(data, 0)
        self._interp.invoke()
        return np.array(self._interp.get_output(0))
