"""The arena probe's search (tinyexp.tflm.probe): the smallest allocating size on the 16-byte
grid, whatever the gap above TFLM's report, in few tries, and through a child that crashes."""

from __future__ import annotations

import pytest

from tinyexp.tflm.probe import ArenaSearch, _learnt


def _search(start: int, need: int, limit: int) -> tuple[int | None, int]:
    """Run the search against an allocator that needs `need` bytes; (found, tries)."""
    search, tries = ArenaSearch(start, 16, limit, failed=start - 16), 0
    while (size := search.next_size()) is not None:
        tries += 1
        search = search.after(size, size >= need)
    return search.allocated, tries


@pytest.mark.parametrize("gap_steps", [0, 1, 2, 3, 7, 100, 1204, 16383])
def test_the_search_finds_the_smallest_size_that_allocates(gap_steps: int) -> None:
    start = 35664
    found, tries = _search(start, start + 16 * gap_steps, start + 256 * 1024)
    assert found == start + 16 * gap_steps
    assert tries <= 2 * (gap_steps + 1).bit_length() + 1  # a linear search took gap_steps + 1


def test_nothing_up_to_the_limit_allocates() -> None:
    assert _search(1000, 10**9, 1000 + 16 * 40)[0] is None


def test_a_crash_counts_as_too_small_and_the_next_child_goes_on_from_what_is_known() -> None:
    search = ArenaSearch(1000, 16, 100_000, failed=984)
    # The child galloped 1000 (refused), 1016 (refused), 1048 (allocated), bisected to 1032 and died there.
    crashed = _learnt(search, "TRY 1000 NO 1000 TRY 1016 NO 1016 TRY 1048 TRY 1032".split())
    assert (crashed.failed, crashed.allocated) == (1032, 1048)
    assert crashed.next_size() is None  # 1048 is the smallest that allocates
