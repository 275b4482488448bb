"""`tinyexp search` end to end: a tiny search on a fresh store, pruned candidates never train,
the front is printed and logged, and running it again resumes without retraining."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import store_client
from tinyexp.core.cli_args import ERROR_PREFIX, EXIT_USAGE
from tinyexp.model.train import trained_entries
from tinyexp.core.names import Artifact, Tag
from tinyexp.search.front import FrontTable

pytestmark = pytest.mark.slow

# 1-200-1 is estimated at about 0.3-1.1 ms on the nano33ble, 1-4-1 at about 0.03 ms: a 0.1 ms
# limit prunes the first before training and keeps the second.
TINY = """\
overrides: [dataset=sine, model=dense, train.epochs=5, model.hidden_layers=1]
objectives: [mse, latency_ms]
trials: 4
seed: 0
sampler: random
limits: {latency_ms: 0.1}
params:
  model.neurons: {choices: [4, 200]}
  quant: {choices: [float32, int8]}
"""


def _tinyexp(home: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(cache or home / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "tinyexp", *args], cwd=home, env=env,
                          capture_output=True, text=True, timeout=240)


def _search(home: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    return _tinyexp(home, "search", *args, cache=cache)


def _multirun_search(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _tinyexp(home, "-m", "hydra/sweeper=search", *args)


def _trial_lines(stdout: str) -> list[str]:
    """Each trial's line without its MLflow run id (new in a new store)."""
    return [re.sub(r"\[[0-9a-f]{8}\]", "[run]", line) for line in stdout.splitlines() if re.match(r"trial \d+[: ]", line)]


def _front(stdout: str) -> str:
    """The printed front without its MLflow run ids."""
    return re.sub(r"\b[0-9a-f]{8}\b", "run", stdout.split("Pareto front", 1)[1].split("(logged")[0])


def _cache_entries(home: Path) -> set[str]:
    return {p.name for p in trained_entries(home / "cache")}


@pytest.fixture(scope="module")
def tiny_search(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One tiny search on a fresh store, shared by the tests that read it (it trains)."""
    home = tmp_path_factory.mktemp("search")
    (home / "tiny.yaml").write_text(TINY)
    first = _search(home, "search=tiny.yaml")
    assert first.returncode == 0, first.stderr[-2000:]
    return home, first


def test_tiny_search_prunes_before_training_prints_the_front_and_resumes(
        tiny_search: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    tmp_path, first = tiny_search
    assert "pruned before training" in first.stdout and "Pareto front of search-tiny-" in first.stdout
    assert "latency (estimate) [ms]" in first.stdout and "model.neurons=4" in first.stdout

    client = store_client(tmp_path)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    parent = next(r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep")
    trials = [r for r in runs if r is not parent]
    assert all(r.data.tags[Tag.PARENT_RUN_ID] == parent.info.run_id for r in trials)
    assert all(r.data.tags[Tag.SWEEP_ID] == parent.data.tags[Tag.SWEEP_ID] for r in trials)
    pruned = [r for r in trials if Tag.SEARCH_PRUNED in r.data.tags]
    trained = [r for r in trials if Tag.SEARCH_PRUNED not in r.data.tags]
    assert pruned and trained and len(trials) == 4
    assert all("wholly above the 0.1 ms limit" in r.data.tags[Tag.SEARCH_PRUNED] for r in pruned)
    assert all(r.data.params.get("model.neurons") != "200" and "neurons=200" not in r.data.tags[Tag.HYDRA_OVERRIDES]
               for r in trained)
    # Only the trained candidates are in the training cache: the pruned ones never trained.
    entries = _cache_entries(tmp_path)
    assert entries == {r.data.tags[Tag.TRAIN_CACHE_KEY] for r in trained}
    assert any(r.data.tags.get(Tag.SEARCH_FRONT) == "true" for r in trained)
    logged = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {Artifact.SEARCH_FRONT_TEXT, Artifact.SEARCH_FRONT_TABLE, Artifact.SEARCH_FRONT_FIGURE} <= logged

    again = _search(tmp_path, "search=tiny.yaml")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming with 4 of 4 trials done" in again.stdout and "0 trained, 0 pruned" in again.stdout
    assert "model.neurons=4" in again.stdout  # the same front, read back from the study
    assert _cache_entries(tmp_path) == entries

    # The same seed on a fresh store asks the same trials and gives the same front.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "tiny.yaml").write_text(TINY)
    same = _search(fresh, "search=tiny.yaml", cache=tmp_path / "cache")
    assert same.returncode == 0, same.stderr[-2000:]
    assert _trial_lines(same.stdout) == _trial_lines(first.stdout)
    assert _front(same.stdout) == _front(first.stdout)


def _markdown_table(md: str, heading: str) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The header and rows of the first Markdown table after `heading`."""
    lines = md.split(heading, 1)[1].splitlines()
    table = [line for line in itertools.dropwhile(lambda x: not x.startswith("|"), lines)]
    table = list(itertools.takewhile(lambda x: x.startswith("|"), table))
    cells = [tuple(line[2:-2].split(" | ")) for line in table]
    return cells[0], cells[2:]


def test_report_on_the_search_shows_its_front_chosen_trials_and_pruned(
        tiny_search: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    home, first = tiny_search
    search_id = re.search(r"Pareto front of (\S+) \(", first.stdout).group(1)
    printed = first.stdout.split("in this command):\n", 1)[1].split("\n(logged", 1)[0]
    pruned_n = int(re.search(r"(\d+) pruned, \d+ failed in this command", first.stdout).group(1))
    out = home / "report"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-m", "tinyexp", "report", f"sweep.id={search_id}", "--out", str(out)],
                          cwd=home, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    md = (out / "report.md").read_text()

    # The front in report.md, rebuilt from the runs, is the front the search printed, row for row.
    columns, rows = _markdown_table(md, "### Pareto front")
    assert rows and FrontTable(columns, tuple(rows)).text() == printed
    assert f"{pruned_n} pruned before training" in md and f"{pruned_n} pruned runs" in md
    _, pruned_rows = _markdown_table(md, "### Pruned before training")
    assert len(pruned_rows) == pruned_n and all("wholly above the 0.1 ms limit" in r[1] for r in pruned_rows)
    # Pruned candidates are listed there only, never as jobs of the report's other tables.
    assert not {r[2] for r in pruned_rows} & set((out / "runs.md").read_text().split())
    client = store_client(home)
    parent = client.get_run(re.search(r"logged to MLflow run (\w+)", first.stdout).group(1))
    for objective, trial in re.findall(r"^- (\w+): trial (\d+),", md, re.MULTILINE):
        assert f"{objective}: trial {trial} (run " in parent.data.tags[Tag.SEARCH_BEST]
    assert len(re.findall(r"^- (\w+): trial (\d+),", md, re.MULTILINE)) == 2  # mse and latency_ms
    figure = out / Artifact.SEARCH_FRONT_FIGURE
    assert f"]({figure.name})" in md and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure.stat().st_size > 10_000


def test_help_and_bad_input(tmp_path: Path) -> None:
    shown = _search(tmp_path, "--help")
    assert shown.returncode == 0 and "search=NAME" in shown.stdout
    (tmp_path / "bad.yaml").write_text(TINY.replace("model.neurons:", "model.neuronz:"))
    bad = _search(tmp_path, "search=bad.yaml")
    assert bad.returncode == EXIT_USAGE and bad.stderr.startswith(ERROR_PREFIX + "search.params.model.neuronz")
    assert bad.stderr.count("\n") == 1 and not (tmp_path / "mlruns").exists()


def test_a_limit_no_candidate_meets_stops_naming_the_closest(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY)
    done = _search(tmp_path, "search=tiny.yaml", "search.limits.flash_bytes=600", "search.give_up_after=2")
    assert done.returncode == EXIT_USAGE, done.stderr[-2000:]
    assert "no candidate met the limits in 2 tries; the closest, trial " in done.stderr
    assert "B of flash, the limit is 600 B" in done.stderr and not _cache_entries(tmp_path)


def test_parallel_workers_share_one_study(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(TINY)
    done = _search(tmp_path, "search=tiny.yaml", "search.n_jobs=2")
    assert done.returncode == 0, done.stderr[-2000:]
    numbers = sorted(int(n) for n in re.findall(r"^trial (\d+)[: ]", done.stdout, re.MULTILINE))
    assert numbers == [0, 1, 2, 3]  # the budget is shared: four trials in all, each once
    assert "model.neurons=4" in done.stdout
    client = store_client(tmp_path)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]


def test_the_multirun_form_is_the_same_search(tmp_path: Path) -> None:
    """`python -m tinyexp -m hydra/sweeper=search ARGS` is `tinyexp search ARGS`: bad input is
    one line before any work; the command resumes the multirun's study (the same search id),
    trains nothing again and prints the same front."""
    (tmp_path / "tiny.yaml").write_text(TINY)
    bad = _multirun_search(tmp_path, "search=tiny.yaml", "search.trialz=3")
    assert bad.returncode == EXIT_USAGE and bad.stderr.startswith(ERROR_PREFIX + "search.trialz: unknown key")
    assert bad.stderr.count("\n") == 1 and not (tmp_path / "mlruns").exists() and not (tmp_path / "multirun").exists()

    args = ("search=tiny.yaml", "search.trials=3", "train.epochs=3")
    swept = _multirun_search(tmp_path, *args)
    assert swept.returncode == 0, swept.stderr[-2000:]
    found = re.search(r"^tinyexp: search (search-tiny-\w+): 3 trials", swept.stdout, re.MULTILINE)
    assert found and "tinyexp: sweep" not in swept.stdout  # the search's lines, not a Hydra sweep's banner
    assert "model.neurons=4" in _front(swept.stdout)  # trial 2 of seed 0 trains; 0, 1 are pruned
    entries = _cache_entries(tmp_path)
    assert len(entries) == 1

    again = _search(tmp_path, *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"search {found.group(1)}: resuming with 3 of 3 trials done" in again.stdout
    table = [_front(out.stdout).split("\n", 1)[1] for out in (swept, again)]  # the header counts this command's
    assert "0 trained, 0 pruned" in again.stdout and table[0] == table[1]
    assert _cache_entries(tmp_path) == entries
    client = store_client(tmp_path)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 4 and not [r for r in runs if r.info.status == "RUNNING"]  # the parent and 3 trials
    assert {r.data.tags[Tag.SWEEP_ID] for r in runs} == {found.group(1)}
