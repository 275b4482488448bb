"""A corrupted training-cache entry is detected by its checksums and retrained, never loaded
(issue 11, defect 10: a truncated model.keras or meta.json failed every later run with a
misleading "File not found")."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from tinyexp.core.config import default_config
from tinyexp.model.data import make_dataset
from tinyexp.model.train import entry_problem, train


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, name", [(_truncate, "model.keras"), (_truncate, "meta.json"),
                                          (_flip, "model.keras"), (Path.unlink, "checksums.json")])
def test_a_corrupted_entry_is_retrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str],
                                        damage: Callable[[Path], None], name: str) -> None:
    import keras

    monkeypatch.setenv("TINYEXP_CACHE_DIR", str(tmp_path))
    cfg = default_config()
    cfg.train.epochs, cfg.model.neurons = 2, 4
    data = make_dataset(cfg.dataset)
    first = train(cfg.model, cfg.train, cfg.dataset, data)
    assert train(cfg.model, cfg.train, cfg.dataset, data).from_cache  # intact: a hit
    damage(first.keras_path.parent / name)
    assert entry_problem(first.keras_path.parent) is not None
    again = train(cfg.model, cfg.train, cfg.dataset, data)
    assert not again.from_cache and "is corrupted" in capsys.readouterr().err
    assert entry_problem(again.keras_path.parent) is None
    keras.models.load_model(again.keras_path, compile=False)  # the retrained entry loads
