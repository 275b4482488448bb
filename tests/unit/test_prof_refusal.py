"""A board that refuses PROF after measuring (a model of more operators than PROF records,
issue 17) keeps its measurement: the profile is a by-product, its absence is said, not fatal."""

from __future__ import annotations

import pytest

from agent.client import BoardRefused
from agent.errors import BoardLinkError
from agent.session import _profile


class _Board:
    """A v2 board whose PROF fails with ``error``."""

    supports_profile = True
    proto = 2

    def __init__(self, error: Exception) -> None:
        self.error = error

    def profile(self) -> None:
        raise self.error


@pytest.mark.parametrize("code,msg", [("too_big", "model runs more operators than PROF records (128)"),
                                      ("no_profile", "no operator events recorded")])
def test_a_refused_prof_leaves_the_measurement_without_a_profile_and_says_why(code: str, msg: str) -> None:
    profile, why = _profile(_Board(BoardRefused(f"the board on /dev/x refused PROF: {code}: {msg}", code)))
    assert profile is None and msg in (why or "")


def test_a_link_failure_during_prof_is_still_an_error() -> None:
    with pytest.raises(BoardLinkError, match="link dropped"):
        _profile(_Board(BoardLinkError("link dropped")))
