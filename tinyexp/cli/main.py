"""Command line: `python -m tinyexp [overrides]`, `tinyexp -m [sweep overrides]`, `tinyexp report`,
`tinyexp package`, `tinyexp calibrate`, `tinyexp doctor`, `tinyexp search` (also started as
`tinyexp -m hydra/sweeper=search search=...`: tinyexp.cli.search_sweeper).

Before Hydra starts a single job, every combination of the command line's overrides is
composed and validated (a preflight), so a bad key, value or option in any job of a sweep
ends the command at once with a one-line message naming the key and what is allowed, exit
code 2, and nothing trained, tracked or half-written.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import itertools
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from tinyexp.core.cli_args import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, print_error
from tinyexp.cli.schema import register_schema, resolve
from tinyexp.core.config import Config, schema_keys
from tinyexp.core.validation import validate
from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.cli.board_files import check_board_files
from tinyexp.cli import search_cmd
from tinyexp.core.resources import conf_dir
from tinyexp.cli.usage import INTERNAL_SUFFIX, main_help, refuse_internal_options
from tinyexp.tracking.reach import check_server, limit_mlflow_retries
from tinyexp.model import sources

# Subcommands whose module's main(argv) -> exit code runs them; doctor and search also take the preflight.
SUBCOMMAND_MODULES = {"report": "tinyexp.cli.report", "package": "tinyexp.cli.package",
                      "calibrate": "tinyexp.estimate.calibrate"}
SUBCOMMANDS = (*SUBCOMMAND_MODULES, "doctor", "search")
VERBOSE_FLAG = "--verbose"
_MAX_PREFLIGHT_JOBS = 2000
_HYDRA_FLAGS_WITH_VALUE = {"--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
                           "--cfg", "-c", "--package", "-p", "--info", "--experimental-rerun"}
_INFO_FLAGS = {"--hydra-help", "--version", "--cfg", "-c", "--info", "--shell-completion", "-sc"}
_EXCLUSIVE_FLAGS = {"--cfg", "-c", "--info", "--shell-completion", "-sc"}  # Hydra runs these alone


def user_config_dirs(argv: Sequence[str]) -> list[str]:
    """The directories given with --config-dir/-cd: users' own configs, searched before ours."""
    found = []
    for i, arg in enumerate(argv):
        if arg in ("--config-dir", "-cd") and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith("--config-dir="):
            found.append(arg.split("=", 1)[1])
    for path in found:
        if not Path(path).is_dir():
            raise ConfigError(f"--config-dir {path}: no such directory")
    return [str(Path(p).resolve()) for p in found]


def _overrides(argv: Sequence[str]) -> list[str]:
    """The key=value arguments of a Hydra command line (flags and their values dropped)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _HYDRA_FLAGS_WITH_VALUE:
            skip = arg not in {"--cfg", "-c", "--info"}
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def _chosen_option(group: str, overrides: Sequence[str]) -> str | None:
    """The option a command line chose for a config group (`model=layers` -> layers)."""
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+~") == group:
            return value
    return None


def explain(exc: Exception, overrides: Sequence[str] = ()) -> str:
    """Hydra's and OmegaConf's multi-line errors as one actionable line."""
    from hydra.errors import MissingConfigException

    if isinstance(exc, MissingConfigException):
        match = re.search(r"Could not find '([^'/]+)/([^']+)'", str(exc))
        if match and exc.options:
            return (f"{match.group(1)}={match.group(2)} is invalid: allowed values are "
                    + ", ".join(sorted(o for o in exc.options if not o.endswith(INTERNAL_SUFFIX))))
    text = str(exc)
    if type(exc).__name__ == "OverrideParseException" or "LexerNoViableAltException" in text:
        line = re.search(r"Exception: ([^;]*)", text.splitlines()[0])
        return (f"{line.group(1) if line else text.splitlines()[0]}: not a valid override (key=value; "
                "quote a value holding spaces, non-ASCII or special characters)")
    match = re.search(r"Could not override '([^']+)'", text)
    if match:
        key = match.group(1)
        group, _, leaf = key.rpartition(".")
        allowed = schema_keys(group or leaf, _chosen_option(group or leaf, overrides))
        return f"{key}: unknown key; allowed keys{' in ' + group if group else ''} are " + ", ".join(allowed)
    cause = exc.__cause__
    if cause is not None and text.startswith("Error merging override"):
        detail = str(cause).splitlines()[0]
        return f"{text.removeprefix('Error merging override ')} is invalid: {detail}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("Set the env")]
    return "; ".join(lines[:3]) or type(exc).__name__


def _parsed(overrides: list[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return [o for o in OverridesParser.create().parse_overrides(overrides) if not o.key_or_group.startswith("hydra")]


def _expand(overrides: list[str]) -> list[list[str]]:
    """Every job's override list: the cartesian product of the sweep values."""
    choices = []
    for o in _parsed(overrides):
        if o.is_sweep_override():
            prefix = o.input_line.split("=", 1)[0]
            choices.append([f"{prefix}={v}" for v in o.sweep_string_iterator()])
        else:
            choices.append([o.input_line])
    return [list(combo) for combo in itertools.product(*choices)]


def _fixed(overrides: list[str]) -> list[str]:
    """The overrides that are not sweeps: what Hydra composes a multirun's primary config from
    (a swept config group, e.g. experiment=a,b, is not applied there, nor its sweeper params)."""
    return [o.input_line for o in _parsed(overrides) if not o.is_sweep_override()]


@contextlib.contextmanager
def _composer(search_dirs: Sequence[str]) -> Iterator[Callable[..., Any]]:
    """compose(overrides, with_hydra=False) -> a job's config as Hydra would compose it, users'
    --config-dir directories included. One Hydra context serves every job of a sweep: set up
    once, each compose costs a fraction of a fresh one."""
    from hydra import compose, initialize_config_dir

    searchpath = [f"hydra.searchpath=[{','.join('file://' + d for d in search_dirs)}]"] if search_dirs else []
    with initialize_config_dir(str(conf_dir()), version_base=None):
        yield lambda overrides, with_hydra=False: compose(
            "config", overrides=[*overrides, *searchpath], return_hydra_config=with_hydra)


def expand_sweep(overrides: list[str], sweeper_params: Any) -> list[list[str]]:
    """Every job's overrides as Hydra's basic sweeper makes them: the command line's sweeps
    crossed with a preset's sweeper params, the command line winning for a key it sets."""
    given = {o.key_or_group.lstrip("+~") for o in _parsed(overrides)}
    extra = [f"{k}={v}" for k, v in (sweeper_params or {}).items() if str(k) not in given]
    return [job + more for job in _expand(overrides) for more in (_expand(extra) if extra else [[]])]


def preflight(overrides: list[str], multirun: bool, search_dirs: Sequence[str] = ()) -> list[Config]:
    """Compose, resolve (tinyexp.cli.schema) and validate every job the command line
    describes; return their typed configs."""
    register_schema()
    refuse_internal_options(overrides, search_dirs)
    try:
        with _composer(search_dirs) as compose:
            return _composed_jobs(compose, overrides, multirun, search_dirs)
    except TinyexpError:
        raise
    except Exception as exc:
        raise ConfigError(explain(exc)) from exc


def _composed_jobs(compose: Callable[..., Any], overrides: list[str], multirun: bool,
                   search_dirs: Sequence[str] = ()) -> list[Config]:
    """Every job's config, resolved and validated: its board file and latency calibration
    usable, its device backend importable, its model and data opened."""
    from tinyexp.device.base import backend_class
    from tinyexp.estimate.per_operator import check_calibration

    swept = [o.input_line for o in _parsed(overrides) if o.is_sweep_override()]
    if swept and not multirun:  # Hydra refuses it too, after the preflight would have run job 'a' of a,b
        raise ConfigError(f"{swept[0]}: a comma-separated value is a sweep; add -m to run each value, quote it "
                          f"({swept[0].split('=', 1)[0]}='{swept[0].split('=', 1)[1]}') for one value with commas, "
                          "or give a list as [a,b]")
    jobs = _expand(overrides)
    if multirun:
        jobs = expand_sweep(overrides, compose(_fixed(overrides), with_hydra=True).hydra.sweeper.get("params"))
    if len(jobs) > _MAX_PREFLIGHT_JOBS:
        raise ConfigError(f"the sweep has {len(jobs)} jobs; at most {_MAX_PREFLIGHT_JOBS} are allowed")
    check_board_files((_chosen_option("board", job) for job in jobs), search_dirs)
    configs = []
    for job in jobs:
        try:
            cfg = resolve(compose(job))
        except TinyexpError:
            raise
        except Exception as exc:  # Hydra/OmegaConf raise many types; all become one line
            raise ConfigError(explain(exc, job)) from exc
        validate(cfg)
        backend_class(cfg.device.backend)
        if cfg.device.placement:
            backend_class(cfg.device.placement, "device.placement")
        check_calibration(cfg.board)
        sources.check_source(cfg)  # opens model files and builds declared layers
        configs.append(cfg)
    return configs


def finished_sweep(configs: Sequence[Config], overrides: Sequence[str]) -> str | None:
    """The sweep's id if every one of its jobs already FINISHED in it (so there is nothing to
    run or launch), else None. One query of the store; no job process, no TensorFlow, and for
    a local SQLite store not even MLflow."""
    from tinyexp.tracking.local_index import finished_config_hashes
    from tinyexp.tracking.store import default_tracking_uri
    from tinyexp.tracking.sweep import config_hash, sweep_id_from_overrides

    if not configs or not all(cfg.sweep.resume for cfg in configs):
        return None
    if any(sources.reads_input_files(cfg.model, cfg.dataset) for cfg in configs):
        return None  # whether a finished run read today's file contents is each job's to check
    names = {str(cfg.sweep.id) if cfg.sweep.id else sweep_id_from_overrides(overrides) for cfg in configs}
    stores = {(cfg.tracking.uri or default_tracking_uri(), cfg.tracking.experiment) for cfg in configs}
    if len(names) != 1 or len(stores) != 1:
        return None
    (name,), ((uri, experiment),) = names, stores
    done = finished_config_hashes(uri, experiment, name)
    if done is None:
        done = _finished_hashes_from_mlflow(uri, experiment, name)
    return name if all(config_hash(cfg) in done for cfg in configs) else None


def _finished_hashes_from_mlflow(uri: str, experiment: str, sweep: str) -> set[str]:
    from tinyexp.tracking.store import existing_store_client
    from tinyexp.tracking.sweep import finished_runs

    client = existing_store_client(uri)
    found = client.get_experiment_by_name(experiment) if client else None
    return set(finished_runs(client, found.experiment_id, sweep)) if found is not None else set()


def _is_multirun(argv: Sequence[str]) -> bool:
    return "-m" in argv or "--multirun" in argv


def _skip_the_collection_at_exit() -> None:
    """Freeze the heap as the last exit handler, so the interpreter's final garbage
    collection has nothing to walk: with MLflow's store loaded it took about 0.4 s of every
    command's wall time, to free memory the process is handing back anyway. The files and
    runs are closed before this (MLflow's handlers run first); objects left in reference
    cycles at exit are not finalised, which frees nothing a command needs."""
    atexit.register(gc.freeze)


def console_main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `tinyexp` and `python -m tinyexp`."""
    _skip_the_collection_at_exit()
    # MLflow's usage telemetry: a background thread that calls a remote server from every
    # command (and waits on it at exit when there is no network). Off unless the user asks.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in SUBCOMMANDS and any(a in ("--help", "-h") for a in argv):
        print(main_help())
        return
    if argv and argv[0] in SUBCOMMAND_MODULES:
        sys.exit(importlib.import_module(SUBCOMMAND_MODULES[argv[0]]).main(argv[1:]))
    if VERBOSE_FLAG in argv:  # TensorFlow's C++ and absl logs shown, not kept off the console
        argv.remove(VERBOSE_FLAG)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if argv and argv[0] == "doctor":
        from tinyexp.cli.doctor import main as doctor_main

        sys.exit(doctor_main(argv[1:], preflight))
    if argv and argv[0] == "search":
        sys.exit(search_cmd.main(argv[1:], preflight, explain))
    shown = sorted({a for a in argv if a in _EXCLUSIVE_FLAGS})
    if _is_multirun(argv) and shown:  # Hydra would raise a bare ValueError with a traceback
        print_error(f"{shown[0]} shows one composed config and cannot be combined with -m/--multirun; "
                    "drop -m to see a job's config")
        sys.exit(EXIT_USAGE)
    searching = _is_multirun(argv) and search_cmd.SWEEPER in argv
    if searching:  # the search checks its own arguments before any work (tinyexp.cli.search_sweeper)
        try:
            argv = search_cmd.multirun_argv(argv)
        except TinyexpError as exc:
            print_error(exc)
            sys.exit(EXIT_USAGE)
    elif not any(a in _INFO_FLAGS for a in argv):
        try:
            search_cmd.refuse_search_arguments(_overrides(argv))
            configs = preflight(_overrides(argv), _is_multirun(argv), user_config_dirs(argv))
            for uri in sorted({str(cfg.tracking.uri) for cfg in configs if cfg.tracking.uri}):
                check_server(uri)
            limit_mlflow_retries()
            done = finished_sweep(configs, _overrides(argv)) if _is_multirun(argv) else None
        except TinyexpError as exc:
            print_error(exc)
            sys.exit(EXIT_USAGE)
        if done is not None:
            print(f"tinyexp: sweep {done}: all {len(configs)} jobs already finished; nothing to run "
                  f"(sweep.resume=false runs them again); report: tinyexp report sweep.id={done}")
            return
    from tinyexp.cli.app import hydra_entry
    from tinyexp.cli.outcomes import begin_command, tally
    from tinyexp.cli.stop import pass_sigterm_to_workers

    sys.argv = [sys.argv[0], *argv]
    if _is_multirun(argv) and not searching:  # a search stops as `tinyexp search` does
        pass_sigterm_to_workers()  # a sequential sweep's job installs its own handler
    with tempfile.TemporaryDirectory(prefix="tinyexp-outcomes-") as folder:
        begin_command(Path(folder))
        try:
            hydra_entry()
        except KeyboardInterrupt:  # the open runs have ended KILLED on their way out
            print_error("interrupted: the jobs under way ended KILLED; run the same command again to resume")
            sys.exit(EXIT_INTERRUPTED)
        ends = tally(Path(folder))
    if _is_multirun(argv) and ends.failed:
        print_error(f"{ends.failed} of {ends.jobs} jobs failed (first: {ends.first_error})")
        sys.exit(EXIT_FAILED)
