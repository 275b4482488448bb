"""Is a model inside the sizes its latency calibration saw?

An estimate's interval comes from its source's leave-one-out residuals, which speak for
networks like the source's own. A model many times larger (or smaller) than any network the
source was calibrated on is an extrapolation in size, even when every operator type is
priced: the study's 1-768-768-1 net has 9x the MACs of its largest calibrated net, and a
keyword-spotting CNN on the Nano 33 BLE about 2,000x those of Sudharsan 2021's. Such an
estimate is labelled (tag, summary, provenance); its figures are not changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from tinyexp.estimate.sources import Row
from tinyexp.tflm.operators import Operator

# Within a factor of FAR of the smallest and largest calibrated network counts as inside.
FAR = 2.0


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
