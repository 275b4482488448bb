"""The search as a Hydra multirun: `python -m tinyexp -m hydra/sweeper=search search=PRESET ...`.

A search is started the way every sweep here is, a Hydra multirun, and is the same search as
`tinyexp search search=PRESET ...` with the same arguments: same search id (so either resumes
the other's study), same trials, same front, same MLflow runs. There is one implementation:
the sweeper (hydra_plugins/tinyexp_search, the thin class Hydra requires) hands its arguments
here, to `tinyexp search`'s entry (tinyexp.cli.search_cmd), which checks them before any
work, composes the trials and runs the study (tinyexp.search.run).

`python -m tinyexp` puts the search's arguments in the sweeper's `argv`
(`search_cmd.multirun_argv`): `search=` and `search.*` are not job keys, and Hydra would refuse
them composing a job's config. Hydra's task function and launcher are not used: a trial is a
tinyexp job the search runs itself, `search.n_jobs` of them at once.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator, Sequence

from hydra.core.global_hydra import GlobalHydra

from tinyexp.cli import search_cmd
from tinyexp.cli.main import explain, preflight


def sweep(argv: Sequence[str]) -> int:
    """Run `tinyexp search` on ``argv`` inside Hydra's multirun; 0 when the search finished. A
    search that did not ends the command with its exit code (2 bad input, 1 failed, 130
    interrupted), as `tinyexp search` does: Hydra has no exit code of its own to give."""
    with _outside_hydra():
        code = search_cmd.main(list(argv), preflight, explain)
    if code:
        sys.exit(code)
    return code


@contextlib.contextmanager
def _outside_hydra() -> Iterator[None]:
    """The search composes its trials with Hydra's compose API, which cannot start while a Hydra
    app holds GlobalHydra: the app's Hydra is set aside for the search and put back after."""
    app: Any = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        yield
    finally:
        GlobalHydra.instance().clear()
        if app is not None:
            GlobalHydra.instance().initialize(app)
