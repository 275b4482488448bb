"""Is a model inside the sizes its latency calibration saw?

An estimate's interval comes from its source's leave-one-out residuals, which speak for
networks like the source's own. A model many times larger (or smaller) than any network the
source was calibrated on is an extrapolation in size, even when every operator type is
priced: the study's 1-768-768-1 net has 9x the MACs of its largest calibrated net, and a
keyword-spotting CNN on the Nano 33 BLE about 2,000x those of Sudharsan 2021's. Such an
estimate is labelled (tag, summary, provenance), and its interval widens with the distance:
SIZE_WIDEN_PER_DECADE (log space, each side) per decade beyond FAR; the point is not changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from tinyexp.estimate.predict import Bounds
from tinyexp.estimate.calibration_rows import Row
from tinyexp.tflm.operators import Operator

# Within a factor of FAR of the smallest and largest calibrated network counts as inside.
FAR = 2.0
SIZE_WIDEN_PER_DECADE = 0.25


@dataclass(frozen=True)
class CalibrationRange:
    """A model's MACs against those of its calibration source's networks."""

    macs: int
    low_macs: int
    high_macs: int
    source: str

    @property
    def within(self) -> bool:
        return self.low_macs / FAR <= self.macs <= self.high_macs * FAR

    def describe(self) -> str:
        span = f"{self.source}'s calibrated networks have {self.low_macs:,}-{self.high_macs:,} MACs"
        if self.within:
            return f"within its calibration: {self.macs:,} MACs; {span}"
        if self.macs > self.high_macs:
            return (f"beyond its calibration: {self.macs:,} MACs, {self.macs / self.high_macs:.1f}x the largest "
                    f"network calibrated on {self.source} ({self.high_macs:,} MACs)")
        return (f"below its calibration: {self.macs:,} MACs, under 1/{FAR:g} of the smallest network "
                f"calibrated on {self.source} ({self.low_macs:,} MACs)")

    @property
    def decades_outside(self) -> float:
        """How many decades the model's MACs lie beyond FAR of the calibrated range (0 inside)."""
        if self.within or self.macs <= 0:
            return 0.0
        ratio = self.macs / (self.high_macs * FAR) if self.macs > self.high_macs else self.low_macs / (self.macs * FAR)
        return math.log10(ratio)

    def widened(self, bounds: Bounds) -> Bounds:
        """The interval of an estimate this far outside its calibration (module docstring)."""
        extra = SIZE_WIDEN_PER_DECADE * self.decades_outside
        return Bounds(bounds.lo - extra, bounds.hi + extra)

    def flag(self) -> str | None:
        """A few words for a run's summary line when the model is outside; None inside."""
        if self.within:
            return None
        if self.macs > self.high_macs:
            return f"beyond its calibration ({self.macs / self.high_macs:.1f}x the largest calibrated network's MACs)"
        return "below its calibration (under half the smallest calibrated network's MACs)"


def calibration_range(rows: Sequence[Row], ops_of: Callable[[Row], Sequence[Operator]],
                      model_ops: Sequence[Operator]) -> CalibrationRange:
    """The model's MACs against those of the networks of ``rows`` (one source's)."""
    sizes = [sum(op.macs for op in ops_of(row)) for row in rows]
    return CalibrationRange(sum(op.macs for op in model_ops), min(sizes), max(sizes), rows[0].source)
