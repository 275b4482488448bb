"""`tinyexp search`: find the networks that fit a board, under latency, flash and RAM limits.

    tinyexp search search=dense_sine [search.KEY=VALUE ...] [job overrides: train.epochs=50 board=...]
    python -m tinyexp -m hydra/sweeper=search search=dense_sine ...   (the same search, as a multirun)

`search=` names a preset in conf/search/ (or a YAML file); `search.*` values change the
preset (`search.trials=40`, `search.limits.latency_ms=2`, `search.seed=1`); every other
key=value is a job override applied to every trial, checked like the main command's. The
preset is read and every searched key checked here, before any work, so a key that does not
exist or an empty range is one line and exit 2. Hydra and OmegaConf stay in this module: the
search layer gets a typed SearchSpec and a compose function.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from tinyexp.core.cli_args import EXIT_INTERRUPTED, EXIT_USAGE, failure_exit, print_error
from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.core.resources import conf_dir

USAGE = """usage: tinyexp search search=PRESET [search.KEY=VALUE ...] [OVERRIDE ...]

Runs an Optuna study over the preset's space: each candidate is built untrained, converted,
checked for TFLM support, flash/RAM fit and estimated latency first; one that cannot meet a
limit is pruned without training. The others train as normal tinyexp jobs, nested under the
search's MLflow parent run. Running the same command again resumes the search. The same
search, started as a Hydra multirun: python -m tinyexp -m hydra/sweeper=search search=PRESET ...

  search=NAME          a preset of conf/search/ ({presets}) or a .yaml file
  search.trials=N      trials in all (pruned ones count), search.seed=N, search.sampler=tpe|nsga2|random
  search.n_jobs=N      trials at once, each worker a process (joblib); the order of trials then varies
  search.limits.KEY=V  latency_ms, flash_bytes, ram_bytes, reserve_flash_bytes, reserve_ram_bytes,
                       accuracy_min, mse_max
  search.id=NAME       the search's name (default: derived from the preset and the overrides)
  search.storage=URL   the Optuna study's database (default: optuna.db beside a local SQLite store)
  OVERRIDE             any job override for every trial (train.epochs=50, board=..., tracking.uri=...)

See docs/search.md."""

Preflight = Callable[..., list[Any]]
SWEEPER = "hydra/sweeper=search"
MULTIRUN_FLAGS = ("-m", "--multirun")


def multirun_argv(argv: Sequence[str]) -> list[str]:
    """The command line Hydra gets for `python -m tinyexp -m hydra/sweeper=search ARGS`: -m and
    the hydra.* and hydra/* overrides stay Hydra's; every other argument is handed, in order, to
    the search sweeper (`hydra.sweeper.argv`), which runs `tinyexp search` on exactly those. So
    both ways of starting a search are one code path, and `search=`, `search.*` (not job keys:
    Hydra would refuse them composing the job's config) never reach Hydra's composition."""
    hydra_own, search = [a for a in argv if _hydras(a)], search_arguments(argv)
    launcher = [a for a in hydra_own if a.split("=", 1)[0].lstrip("+~") == "hydra/launcher"]
    if launcher:
        raise ConfigError(f"{launcher[0]}: a search runs its trials itself, not through Hydra's launcher; "
                          "search.n_jobs=N runs N at once")
    interpolated = [a for a in search if "${" in a]
    if interpolated:  # Hydra would resolve it against its own config when it makes the sweeper
        raise ConfigError(f"{interpolated[0]}: an interpolation cannot be handed to the search sweeper; "
                          "give the value, or run tinyexp search with these arguments")
    return [*hydra_own, "hydra.sweeper.argv=[" + ",".join(map(_quoted, search)) + "]"]


def refuse_search_arguments(overrides: Sequence[str]) -> None:
    """`search=` or `search.*` given to a job or a sweep: a ConfigError saying how a search starts."""
    found = [o for o in overrides if o.split("=", 1)[0].lstrip("+~").split(".")[0] == "search"]
    if found:
        raise ConfigError(f"{found[0]}: not a job key but a search's; start a search with tinyexp search "
                          f"{found[0]} ... or python -m tinyexp -m {SWEEPER} {found[0]} ...")


def search_arguments(argv: Sequence[str]) -> list[str]:
    """What a search's multirun command line hands to the search: all but -m and Hydra's own."""
    return [arg for arg in argv if not _hydras(arg)]


def _hydras(arg: str) -> bool:
    return arg in MULTIRUN_FLAGS or arg.split("=", 1)[0].lstrip("+~").startswith(("hydra.", "hydra/"))


def _quoted(arg: str) -> str:
    """``arg`` as a quoted string of Hydra's override grammar, read back as exactly ``arg``:
    quotes escaped, and the backslashes before a quote or the closing quote doubled."""
    escaped = re.sub(r"(\\*)(?='|$)", lambda m: m.group(1) * 2, arg)
    return "'" + escaped.replace("'", "\\'") + "'"


def is_search_multirun(hydra_config: Any) -> bool:
    """Whether a multirun's Hydra config chose the search sweeper (its trials are the search's,
    not jobs of Hydra's launcher: the sweep callbacks have nothing to show)."""
    return str(hydra_config.runtime.choices.get("hydra/sweeper")) == SWEEPER.split("=", 1)[1]


def _presets() -> list[str]:
    return sorted(p.stem for p in (conf_dir() / "search").glob("*.yaml"))


def _preset_path(name: str) -> Path:
    if name.endswith((".yaml", ".yml")):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"search={name}: no such file")
        return path
    path = conf_dir() / "search" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"search={name} is invalid: allowed values are {', '.join(_presets())}, or a .yaml file")
    return path


def load_spec(argv: Sequence[str]) -> tuple[Any, list[str]]:
    """The SearchSpec from `search=` and `search.*` arguments, and the job overrides left."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from tinyexp.search.space import parse_spec

    flags = [a for a in argv if a.startswith("-")]
    if flags:
        raise ConfigError(f"{flags[0]}: unknown option; tinyexp search takes key=value arguments (see --help)")
    bare = [a for a in argv if "=" not in a]
    if bare:
        raise ConfigError(f"{bare[0]}: not a key=value argument (see tinyexp search --help)")
    preset = [a.split("=", 1)[1] for a in argv if a.startswith("search=")]
    if len(preset) != 1:
        raise ConfigError("search=PRESET: name exactly one preset, one of " + ", ".join(_presets()))
    changes = [a.removeprefix("search.") for a in argv if a.startswith("search.")]
    base = [a for a in argv if not a.startswith(("search=", "search."))]
    path = _preset_path(preset[0])
    try:
        merged = OmegaConf.merge(OmegaConf.load(path), OmegaConf.from_dotlist(changes))
        data = OmegaConf.to_container(merged, resolve=True)
    except (OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"search={preset[0]}: {' '.join(str(exc).split())[:200]}") from exc
    return parse_spec(data, path.stem), base


def job_overrides(preset: Sequence[str], given: Sequence[str]) -> list[str]:
    """The preset's fixed overrides, then the command line's, which win for a key both set."""
    keys = {o.split("=", 1)[0].lstrip("+~") for o in given}
    return [o for o in preset if o.split("=", 1)[0].lstrip("+~") not in keys] + list(given)


def check_space(spec: Any, base: list[str], preflight: Preflight) -> list[Any]:
    """Every searched key exists and takes a value of its space (one preflight per key);
    returns the configs of the trials' common overrides."""
    from tinyexp.search.space import as_overrides

    configs = preflight(base, False)
    for param in spec.params:
        try:
            preflight([*base, *as_overrides({param.key: param.example()}, spec)], False)
        except ConfigError as exc:
            raise ConfigError(f"search.params.{param.key}: {exc}") from exc
    return configs


@contextlib.contextmanager
def _composer(explain: Callable[[Exception, Sequence[str]], str]) -> Iterator[Callable[[list[str]], Any]]:
    """compose(overrides) -> a trial's validated config, Hydra's errors as one line."""
    from hydra import compose, initialize_config_dir

    from tinyexp.cli.schema import register_schema, resolve
    from tinyexp.core.config import Config
    from tinyexp.core.validation import validate

    register_schema()

    def composed(overrides: list[str]) -> Config:
        try:
            cfg = resolve(compose("config", overrides=overrides))
        except TinyexpError:
            raise
        except Exception as exc:  # Hydra/OmegaConf raise many types; all become one line
            raise ConfigError(explain(exc, overrides)) from exc
        validate(cfg)
        return cfg

    with initialize_config_dir(str(conf_dir()), version_base=None):
        yield composed


def _worker(spec: Any, base: list[str], target: Any, explain: Callable[[Exception, Sequence[str]], str],
            worker: int) -> dict[str, int]:
    """One worker process of a parallel search (search.n_jobs > 1)."""
    from tinyexp.search.run import run_trials

    with _composer(explain) as compose:
        return run_trials(spec, base, compose, target, worker)


def _workers(spec: Any, base: list[str], target: Any,
             explain: Callable[[Exception, Sequence[str]], str]) -> Callable[[], list[dict[str, int]]] | None:
    """search.n_jobs worker processes through joblib, or None to run the trials here."""
    if spec.n_jobs <= 1:
        return None
    from joblib import Parallel, delayed

    return lambda: Parallel(n_jobs=spec.n_jobs)(delayed(_worker)(spec, base, target, explain, worker)
                                                for worker in range(spec.n_jobs))


def main(argv: Sequence[str], preflight: Preflight, explain: Callable[[Exception, Sequence[str]], str]) -> int:
    """`tinyexp search ...`: 0 when the search finished, 2 for bad input, 1 when it failed."""
    if any(a in ("--help", "-h") for a in argv):
        print(USAGE.format(presets=", ".join(_presets())))
        return 0
    from tinyexp.search.run import SearchTarget, run_search, search_id
    from tinyexp.search.study import check_storage, default_storage
    from tinyexp.tracking.store import default_tracking_uri

    try:
        spec, given = load_spec(argv)
        base = job_overrides(spec.overrides, given)
        configs = check_space(spec, base, preflight)
        tracking = configs[0].tracking
        uri = str(tracking.uri) if tracking.uri else None
        storage = spec.storage or default_storage(uri or default_tracking_uri())
        check_storage(storage)
        target = SearchTarget(uri, str(tracking.experiment), storage, search_id(spec, given))
    except TinyexpError as exc:
        print_error(exc)
        return EXIT_USAGE
    print(f"tinyexp: search {target.search_id}: {spec.trials} trials, objectives {', '.join(spec.objectives)}; "
          f"study in {storage}")
    try:
        with _composer(explain) as compose:
            result = run_search(spec, base, compose, target, workers=_workers(spec, base, target, explain))
    except TinyexpError as exc:  # a limit no candidate meets is bad input (2), a failure 1
        return failure_exit(exc)
    except KeyboardInterrupt:
        print_error("interrupted: run the same command again to resume the search")
        return EXIT_INTERRUPTED
    counts = ", ".join(f"{v} {k}" for k, v in result.counts.items())
    shown = result.front.text() if result.front.rows else "no trained trial meets every limit yet"
    print(f"\nPareto front of {target.search_id} ({counts} in this command):\n{shown}\n"
          f"(logged to MLflow run {result.parent_run_id})")
    return 0
