"""The caches a warm job reads instead of recomputing: a file is used only when it is
whole and is what was written (core.checked_file), a converted model only for the settings
it was converted with, and the stored calibration prices as a freshly fitted one does."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tinyexp.core.checked_file import read_checked, write_checked
from tinyexp.estimate import calibration_cache
from tinyexp.estimate.calibration import Calibration, calibration_ops
from tinyexp.estimate.calibration_rows import published_rows
from tinyexp.model import conversion_cache
from tinyexp.model.conversion_cache import Conversion


def test_a_checked_file_is_read_back_only_whole(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "model.bin"
    write_checked(path, b"0123456789")
    assert read_checked(path) == b"0123456789"
    path.write_bytes(b"01234")  # cut short
    assert read_checked(path) is None
    assert read_checked(tmp_path / "absent.bin") is None


def _counting_converter(calls: list[str], data: bytes):  # noqa: ANN202
    def convert() -> bytes:
        calls.append("converted")
        return data

    return convert


def test_a_conversion_is_stored_per_setting_and_a_damaged_one_is_converted_again(tmp_path: Path) -> None:
    calls: list[str] = []
    int8 = Conversion("int8", True, True, False)
    assert conversion_cache.converted(tmp_path, int8, _counting_converter(calls, b"TFL3-int8")) == b"TFL3-int8"
    assert conversion_cache.converted(tmp_path, int8, _counting_converter(calls, b"other")) == b"TFL3-int8"
    assert len(calls) == 1
    per_tensor = Conversion("int8", False, True, False)
    assert conversion_cache.converted(tmp_path, per_tensor, _counting_converter(calls, b"TFL3-pt")) == b"TFL3-pt"
    assert len(calls) == 2
    for stored in (tmp_path / conversion_cache.FOLDER).glob("*.tflite"):
        stored.write_bytes(b"damaged")
    assert conversion_cache.converted(tmp_path, int8, _counting_converter(calls, b"TFL3-int8")) == b"TFL3-int8"
    assert len(calls) == 3
    assert conversion_cache.converted(None, int8, _counting_converter(calls, b"x")) == b"x"  # not trained here
    assert len(calls) == 4


@pytest.fixture()
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TINYEXP_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_the_stored_calibration_is_read_back_and_a_damaged_one_refitted(cache_home: Path) -> None:
    builds: list[int] = []

    def build() -> Calibration:
        builds.append(1)
        return Calibration(published_rows(), calibration_ops)

    first = calibration_cache.stored_calibration(build)
    again = calibration_cache.stored_calibration(build)
    assert len(builds) == 1 and again is not first and sorted(again.groups) == sorted(first.groups)
    stored = next((cache_home / calibration_cache.FOLDER).glob("*.pickle"))
    stored.write_bytes(stored.read_bytes()[:100])
    calibration_cache.stored_calibration(build)
    assert len(builds) == 2


def test_the_fingerprint_changes_with_the_reference_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    monkeypatch.setattr(calibration_cache, "_fingerprint_files", lambda: [rows])
    before = calibration_cache.fingerprint()
    rows.write_text("a,b\n1,3\n")
    assert calibration_cache.fingerprint() != before


def test_a_stored_calibration_prices_as_the_fitted_one() -> None:
    fitted = Calibration(published_rows(), calibration_ops)
    stored = pickle.loads(pickle.dumps(fitted))
    for source in ("dokic2020-nano33ble", "edgemark-l4r5zi-o3-cmsisnn"):
        fresh = [(p.predicted_us, p.low_us, p.high_us) for p in fitted.loo(source)]
        read = [(p.predicted_us, p.low_us, p.high_us) for p in stored.loo(source)]
        assert read == fresh
        assert stored.model(source).bounds == fitted.model(source).bounds


def test_a_source_fitted_by_one_job_is_stored_for_the_next(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = "edgemark-l4r5zi-o3-cmsisnn"
    monkeypatch.setattr(calibration_cache, "_SHIPPED", calibration_cache._Shipped())
    first = calibration_cache.shipped_calibration()
    assert source not in first.fitted_sources()
    first.model(source), first.loo(source)
    calibration_cache.keep_fitted(first)
    monkeypatch.setattr(calibration_cache, "_SHIPPED", calibration_cache._Shipped())  # the next job
    assert source in calibration_cache.shipped_calibration().fitted_sources()
