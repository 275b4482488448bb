"""Board profiles by name (core/boards.py), read without Hydra: the same BoardConfig a run
resolves, and a bad file is one ConfigError naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import compose_config
from tinyexp.core import boards
from tinyexp.core.config import BoardConfig
from tinyexp.core.errors import ConfigError


@pytest.mark.parametrize("name", boards.available_boards())
def test_a_board_by_name_is_the_board_a_run_resolves(name: str) -> None:
    board = boards.load_board(name)
    assert isinstance(board, BoardConfig) and board == compose_config([f"board={name}"]).board


@pytest.mark.parametrize("text, words", [
    ("name: b\nclock_mhz: 64\n", "clock_mhz: unknown key"),
    ("name: b\nclock_hz: fast\n", "clock_hz='fast' is not of type int"),
    ("name: b\nflash_bytes: true\n", "flash_bytes=True is not of type int"),
    ("- name: b\n", "not a mapping"),
    ("name: [b\n", "invalid board file"),
])
def test_a_bad_board_file_names_the_file_and_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     text: str, words: str) -> None:
    (tmp_path / "b.yaml").write_text(text)
    monkeypatch.setattr(boards, "BOARD_DIR", tmp_path)
    with pytest.raises(ConfigError, match="invalid board file") as info:
        boards.load_board("b")
    assert words in str(info.value) and str(tmp_path / "b.yaml") in str(info.value)
    assert "\n" not in str(info.value)


def test_an_unknown_board_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown board 'uno': available boards are nano33ble"):
        boards.load_board("uno")
