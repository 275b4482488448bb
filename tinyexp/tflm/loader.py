"""Load a model into the TFLM interpreter (the `tflite-micro` binding), or say why TFLM refused.

The lowest step of the tflm layer, shared by the runtime and by the arena probe's child
process, so neither has to import the other.
"""

from __future__ import annotations

from tinyexp.core.native_output import capture_native_stderr


def _refusal_reason(native_text: str, exc: Exception) -> str:
    """One line: TFLM's own diagnostic lines joined, or the exception text if it said none."""
    lines = [ln.strip() for ln in native_text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("WARNING")]
    return "; ".join(lines) if lines else str(exc)


def _interpreter(model: bytes, arena_bytes: int):  # noqa: ANN202 - type lives in the C extension
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=arena_bytes)


def try_load(model: bytes, arena_bytes: int) -> tuple[object | None, str]:
    """An interpreter with tensors allocated, or None and TFLM's reason."""
    with capture_native_stderr() as native:
        try:
            interp = _interpreter(model, arena_bytes)
            error: Exception | None = None
        except (RuntimeError, ValueError) as exc:
            interp, error = None, exc
    if error is None:
        return interp, ""
    return None, _refusal_reason(native[0], error)
