"""One measurement of one board: the sequence the runner needs, as a single call.

The order is the protocol's host behaviour: handshake, INFO, refuse a different model by its
CRC-32, then one IN/RUN per parity sample (so outputs can be compared with the host's), one
BENCH with RAW so every timed invoke is kept, not only the board's summary, and, from a board
of protocol v2, one PROF: the per-operator profile of an invoke (a v1 board has none).
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Sequence

from agent import protocol as p
from agent.client import BoardClient, BoardRefused
from agent.errors import BoardLinkError


class MeasurementError(BoardLinkError):
    """A BoardLinkError raised mid-session; ``transcript`` holds every line up to the failure."""

    def __init__(self, message: str, transcript: list[str]) -> None:
        super().__init__(message)
        self.transcript = transcript


@dataclass(frozen=True)
class Measurement:
    """What a board said about one model. ``stats`` holds the BENCH figures as floats
    (n, mean_us, std_us, min_us, median_us, p95_us, max_us, mean_cycles; -1 = no cycle counter);
    ``profile`` the per-operator profile, or None and ``no_profile_reason`` says why."""

    identity: dict[str, str]
    info: dict[str, str]
    stats: dict[str, float]
    per_invoke_us: list[float]
    per_invoke_cycles: list[float]
    outputs: list[list[float] | list[int]]
    transcript: list[str]
    profile: p.Profile | None = None
    no_profile_reason: str | None = None


def measure_board(port: str, model_bytes: bytes, samples: Sequence[Sequence[float]] | int,
                  sample_dtype: str | None = None, warmup: int = 5, invokes: int = 100,
                  baud: int = p.DEFAULT_BAUD, timeout_s: float = 20.0,
                  retries: int = 3) -> Measurement:
    """Measure the model on the board at ``port``.

    ``samples`` is k flat inputs already in the model's input dtype, named by
    ``sample_dtype`` ('float32' or 'int8'), or a count k of all-zero inputs in whatever dtype
    the board's model takes. The returned ``outputs`` holds k flat outputs in the raw output
    dtype. Raises BoardLinkError if the port cannot be opened, MeasurementError (a BoardLinkError
    with the transcript) if the board cannot be reached, holds another model, or refuses it.
    """
    count = samples if isinstance(samples, int) else len(samples)
    if count < 1:
        raise BoardLinkError(f"at least one parity sample is needed, got {count}")
    if not isinstance(samples, int) and sample_dtype is None:
        raise BoardLinkError("sample_dtype must name the dtype of the given samples")
    with BoardClient(port, baud=baud, timeout_s=timeout_s, retries=retries) as client:
        try:
            identity = client.hello()
            info = client.info()
            client.verify_model(model_bytes)
            if isinstance(samples, int):
                samples, sample_dtype = [[0] * int(info["in_len"])] * count, info["in_dtype"]
            outputs = []
            for sample in samples:
                client.set_input(sample, str(sample_dtype))
                outputs.append(client.run()[0])
            bench = client.bench(warmup, invokes, raw=True)
            profile, why_not = _profile(client)
        except BoardLinkError as exc:
            raise MeasurementError(str(exc), list(client.transcript)) from exc
    return Measurement(identity, info, bench.stats, bench.per_invoke_us, bench.per_invoke_cycles,
                       outputs, list(client.transcript), profile, why_not)


def _profile(client: BoardClient) -> tuple[p.Profile | None, str | None]:
    """The board's per-operator profile, or None and why. The profile is a by-product of a
    measurement the board has already made: a v1 board has no PROF, and a v2 board may refuse it
    (no operator events recorded, more operators than PROF holds); the measurement stands
    without it. A link failure is still an error."""
    if not client.supports_profile:
        return None, f"the board speaks protocol {client.proto} (PROF needs {p.PROF_MIN_PROTO})"
    try:
        return client.profile(), None
    except BoardRefused as exc:
        return None, str(exc)
