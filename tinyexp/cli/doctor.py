"""`tinyexp doctor [key=value ...]`: the store, the cache, the toolchain and the board, on one screen.

Each check prints one line, `ok` or `PROBLEM` with what to do, and the command exits 1 if
any check found a problem (2 for a bad configuration). It reads and never creates: a store
that does not exist yet is reported as such, not made. The same checks run at the start of
every job; this asks them all at once, without training anything.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Callable, Sequence

from tinyexp.core.cli_args import EXIT_FAILED, EXIT_USAGE, print_error
from tinyexp.core.config import Config
from tinyexp.core.errors import TinyexpError

Check = Callable[[Config], str]


def check_store(cfg: Config) -> str:
    from tinyexp.tracking import lost_runs, sqlite_store
    from tinyexp.tracking.store import default_tracking_uri, existing_store_client

    uri = str(cfg.tracking.uri or default_tracking_uri())
    path = sqlite_store.db_path(uri)
    if path is not None and not path.exists():
        return f"{uri}: not created yet (the first run creates it)"
    client = existing_store_client(uri)
    try:
        experiments = client.search_experiments()
        running = client.search_runs([e.experiment_id for e in experiments],
                                     filter_string="attributes.status = 'RUNNING'") if experiments else []
    except Exception as exc:  # noqa: BLE001 - MLflow raises many types for a store it cannot read
        raise TinyexpError(sqlite_store.explain_broken(uri, str(exc)) or
                           f"{uri}: MLflow cannot read it: {' '.join(str(exc).split())[:200]}") from exc
    if path is not None:
        sqlite_store.prepare(uri)  # the store exists: this only checks it can be written
    lost = lost_runs.unsettled(str(client.tracking_uri))
    settling = (f"; {len(lost)} lost runs not ended there yet (records in {lost_runs.records_dir()}; "
                "the next job ends them FAILED)") if lost else ""
    return f"{uri}: {len(experiments)} experiments, {len(running)} runs RUNNING now{settling}"


def check_cache(cfg: Config) -> str:  # noqa: ARG001 - same signature as the other checks
    from tinyexp.model.train import cache_dir, entry_problem, trained_entries

    folder = cache_dir()
    entries = trained_entries(folder)
    bad = [(p.name, why) for p in entries if (why := entry_problem(p)) is not None]
    size = sum(f.stat().st_size for p in entries for f in p.rglob("*") if f.is_file())
    if bad:
        raise TinyexpError(f"{folder}: {len(bad)} of {len(entries)} entries fail their checksums "
                           f"(first {bad[0][0]}: {bad[0][1]}); they will be retrained")
    return f"{folder}: {len(entries)} trained models (with their conversions), {size / 2**20:.1f} MiB, all checksums match"


def check_toolchain(cfg: Config) -> str:
    from tinyexp.device.base import load_backend

    tags = load_backend(cfg.device, cfg.board).check_ready()
    host = "g++ and make for the firmware's host build" if shutil.which("g++") and shutil.which("make") \
        else "no g++/make (the firmware's host tests cannot build)"
    shown = ", ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "nothing more to check"
    return f"device={cfg.device.kind} backend ready ({shown}); {host}"


def check_board(cfg: Config) -> str:
    if cfg.device.kind == "virtual":
        return "the virtual board (a process on a pseudo-terminal): nothing to reach"
    from agent.client import BoardClient
    from agent.errors import BoardLinkError
    from tinyexp.device.base import load_backend

    port = load_backend(cfg.device, cfg.board).check_ready().get("device.port")
    try:
        with BoardClient(str(port), baud=int(cfg.device.baud), timeout_s=min(float(cfg.device.timeout_s), 5.0),
                         retries=int(cfg.device.retries)) as client:
            hello = client.hello()
    except BoardLinkError as exc:
        raise TinyexpError(str(exc)) from exc
    return f"{port}: firmware {hello.get('fw', '?')}, protocol {hello.get('proto', '?')}, board {hello.get('board', '?')}"


CHECKS: dict[str, Check] = {"store": check_store, "cache": check_cache, "toolchain": check_toolchain,
                            "board": check_board}


def main(argv: Sequence[str], preflight: Callable[[list[str], bool], list[Config]]) -> int:
    """Run every check on the config ``preflight`` (the command line's) composes from the
    overrides; print one line each; exit 0, 1 (a problem) or 2 (bad configuration)."""
    parser = argparse.ArgumentParser(
        prog="tinyexp doctor", description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog="key=value: any config override of the main command (board=..., device=serial, tracking.uri=...)")
    parser.parse_args([arg for arg in argv if arg.startswith("-")])
    try:
        cfg = preflight(list(argv), False)[0]
    except TinyexpError as exc:
        print_error(exc)
        return EXIT_USAGE
    problems = 0
    for name, check in CHECKS.items():
        try:
            line = f"ok       {name:<9} {check(cfg)}"
        except TinyexpError as exc:
            problems += 1
            line = f"PROBLEM  {name:<9} {' '.join(str(exc).split())}"
        print(line)
    sys.stdout.flush()
    return EXIT_FAILED if problems else 0
