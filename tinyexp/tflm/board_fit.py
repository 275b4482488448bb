"""Does a model fit the board? Decided before anything is flashed.

Flash must hold the model (plus the sketch, when its footprint is known); RAM must hold the
tensor arena TFLM really needed (plus the sketch's own RAM, when known). When the sketch's
footprint is unknown the check says it counted the model and arena alone, so a "fits" is
never stronger than the evidence behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyexp.core.config import BoardConfig


@dataclass(frozen=True)
class FitCheck:
    flash_needed_bytes: int
    flash_limit_bytes: int
    ram_needed_bytes: int | None
    ram_limit_bytes: int
    basis: str  # "model+sketch" or "model_only"

    @property
    def fits_flash(self) -> bool:
        return self.flash_needed_bytes <= self.flash_limit_bytes

    @property
    def fits_ram(self) -> bool:
        return self.ram_needed_bytes is None or self.ram_needed_bytes <= self.ram_limit_bytes

    @property
    def fits(self) -> bool:
        return self.fits_flash and self.fits_ram

    def reason(self, board_name: str) -> str | None:
        """Why it does not fit, in one line; None when it fits."""
        problems = []
        if not self.fits_flash:
            problems.append(f"needs {self.flash_needed_bytes} bytes of flash, {board_name} allows "
                            f"{self.flash_limit_bytes}")
        if not self.fits_ram:
            problems.append(f"needs {self.ram_needed_bytes} bytes of RAM, {board_name} allows "
                            f"{self.ram_limit_bytes}")
        if not problems:
            return None
        return "does not fit: " + "; ".join(problems) + f" (counted: {self.basis})"


def check_fit(model_bytes: int, arena_bytes: int | None, board: BoardConfig) -> FitCheck:
    """Compare the model's flash and RAM needs with the board's limits."""
    known = board.sketch_flash_bytes is not None and board.sketch_ram_bytes is not None
    flash = model_bytes + (board.sketch_flash_bytes or 0)
    ram = None if arena_bytes is None else arena_bytes + (board.sketch_ram_bytes or 0)
    return FitCheck(flash, board.flash_bytes, ram, board.ram_bytes,
                    "model+sketch" if known else "model_only")
