"""A search's declaration, typed: the space of config keys, the objectives and the limits.

A preset (conf/search/*.yaml) arrives here as plain data (the command line reads and merges
it); :func:`parse_spec` turns it into a :class:`SearchSpec` or raises a one-line
ConfigError naming the key and the rule. Each parameter is a config key the trial's config is
composed with (`model.neurons`, `quant`, `model.layers.2.filters`, `train.learning_rate`), as
choices, an integer range or a float range (either on a log scale), optionally only `when`
earlier parameters took given values (a conditional key: `quant.per_channel` only for int8).
A parameter with `keys: [...]` is a name for one value given to several config keys at once
(one width for every pointwise convolution of a DS-CNN).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from tinyexp.core.config import SWEEP_ID_PATTERN, SWEEP_ID_RULE
from tinyexp.core.errors import ConfigError
from tinyexp.core.names import Metric

_SAMPLERS = ("tpe", "nsga2", "random")
_SPEC_KEYS = ("description", "overrides", "params", "objectives", "limits", "trials", "seed", "sampler",
              "storage", "id", "give_up_after", "population", "n_jobs")
_PARAM_KEYS = ("choices", "int", "float", "log", "step", "when", "keys")
_HYDRA_SPECIAL = re.compile(r"[\s,=\[\]{}()'\"\\:$]")


@dataclass(frozen=True)
class ObjectiveKind:
    """What an objective reads from a trial's MLflow run, which way is better, and its unit."""

    metric: str
    direction: str  # "maximize" | "minimize"
    unit: str
    scale: float = 1.0  # metric value x scale = the objective in its unit


OBJECTIVES: Mapping[str, ObjectiveKind] = {
    "accuracy": ObjectiveKind(Metric.TEST_ACCURACY, "maximize", ""),
    "mse": ObjectiveKind(Metric.TEST_MSE, "minimize", ""),
    "latency_ms": ObjectiveKind(Metric.LATENCY_US, "minimize", "ms", 1e-3),
    "model_bytes": ObjectiveKind(Metric.MODEL_BYTES, "minimize", "B"),
    "arena_bytes": ObjectiveKind(Metric.ARENA_REQUIRED_BYTES, "minimize", "B"),
}


@dataclass(frozen=True)
class Param:
    """One searched config key. Choices are kept as their override text (Optuna's categorical
    values must be scalars; a choice may be a list such as `model.widths=[16,8]`)."""

    key: str
    kind: str  # "choices" | "int" | "float"
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: int | None = None
    when: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (earlier key, the values it must have)
    keys: tuple[str, ...] = ()  # the config keys it sets; () = the key itself

    def active(self, chosen: Mapping[str, Any]) -> bool:
        """Whether this key is searched given the values chosen so far."""
        return all(key in chosen and override_text(chosen[key]) in allowed for key, allowed in self.when)

    def suggest(self, trial: Any) -> Any:
        """This key's value for an Optuna trial."""
        if self.kind == "choices":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=self.step or 1)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)

    def example(self) -> Any:
        """A value of the space, for checking the key exists before the search starts."""
        return self.choices[0] if self.kind == "choices" else (int(self.low) if self.kind == "int" else self.low)


@dataclass(frozen=True)
class Limits:
    """What a shipped candidate must meet. None = no limit of that kind (flash and RAM: the
    board's). The reserves are what the firmware itself needs when the board config does not
    know its sketch's footprint (a board that knows it counts its own)."""

    latency_ms: float | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    reserve_flash_bytes: int = 0
    reserve_ram_bytes: int = 0
    accuracy_min: float | None = None
    mse_max: float | None = None


@dataclass(frozen=True)
class SearchSpec:
    """A whole search: its space, objectives, limits and budget."""

    name: str
    params: tuple[Param, ...]
    objectives: tuple[str, ...]
    limits: Limits
    overrides: tuple[str, ...] = ()
    trials: int = 20
    seed: int = 0
    sampler: str = "tpe"
    storage: str | None = None
    id: str | None = None
    give_up_after: int = 50  # candidates in a row pruned, none ever trained: no candidate meets the limits
    population: int = 8  # NSGA-II's generation size
    n_jobs: int = 1  # worker processes running trials at once (joblib)

    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES[o].direction for o in self.objectives]


def override_text(value: Any) -> str:
    """A value as Hydra's override grammar reads it back (true/false, lists in brackets, a
    string quoted when it holds a character the grammar treats specially)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{override_text(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return f"'{text}'" if isinstance(value, str) and _HYDRA_SPECIAL.search(text) else text


def as_overrides(values: Mapping[str, Any], spec: SearchSpec | None = None) -> list[str]:
    """The chosen values as key=value overrides, in the order they were chosen (a parameter
    with `keys` of the spec as one override per key)."""
    targets = {p.key: p.keys for p in spec.params if p.keys} if spec is not None else {}
    return [f"{key}={value if isinstance(value, str) else override_text(value)}"
            for name, value in values.items() for key in targets.get(name, (name,))]


def suggest(spec: SearchSpec, trial: Any) -> dict[str, Any]:
    """Every active key's value for an Optuna trial, in declaration order."""
    chosen: dict[str, Any] = {}
    for param in spec.params:
        if param.active(chosen):
            chosen[param.key] = param.suggest(trial)
    return chosen


def spec_json(spec: SearchSpec) -> str:
    """The spec as JSON, logged on the search's parent run so a report can read the search back
    from MLflow alone (:func:`spec_from_json` is its inverse)."""
    return json.dumps(dataclasses.asdict(spec), sort_keys=True)


def spec_from_json(text: str) -> SearchSpec:
    """The SearchSpec :func:`spec_json` wrote (JSON's lists back to the dataclasses' tuples)."""
    data = json.loads(text)
    params = tuple(Param(**{**p, "choices": tuple(p["choices"]), "keys": tuple(p["keys"]),
                            "when": tuple((key, tuple(values)) for key, values in p["when"])})
                   for p in data["params"])
    return SearchSpec(**{**data, "params": params, "objectives": tuple(data["objectives"]),
                         "limits": Limits(**data["limits"]), "overrides": tuple(data["overrides"])})


def _unknown(what: str, given: Mapping[str, Any], allowed: Sequence[str]) -> None:
    extra = sorted(set(given) - set(allowed))
    if extra:
        raise ConfigError(f"{what}{extra[0]}: unknown key; allowed keys are " + ", ".join(allowed))


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}={value!r} is invalid: must be a number")
    return float(value)


def _param(key: str, data: Any) -> Param:
    where = f"search.params.{key}"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}={data!r} is invalid: give choices: [...], int: [low, high] or float: [low, high]")
    _unknown(where + ".", data, _PARAM_KEYS)
    kinds = [k for k in ("choices", "int", "float") if k in data]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of choices, int, float (found {', '.join(kinds) or 'none'})")
    kind = kinds[0]
    keys = data.get("keys") or ()
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise ConfigError(f"{where}.keys={keys!r} is invalid: a list of config keys")
    when = tuple((str(k), tuple(override_text(v) for v in (vs if isinstance(vs, (list, tuple)) else [vs])))
                 for k, vs in (data.get("when") or {}).items())
    if kind == "choices":
        choices = data["choices"]
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ConfigError(f"{where}.choices={choices!r} is invalid: an empty range; give at least one value")
        return Param(key, kind, choices=tuple(override_text(c) for c in choices), when=when, keys=tuple(keys))
    bounds = data[kind]
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        raise ConfigError(f"{where}.{kind}={bounds!r} is invalid: give [low, high]")
    low, high = (_number(f"{where}.{kind}", b) for b in bounds)
    log = bool(data.get("log", False))
    if high < low:
        raise ConfigError(f"{where}.{kind}={list(bounds)} is invalid: an empty range (high < low)")
    if log and low <= 0:
        raise ConfigError(f"{where}.{kind}={list(bounds)} is invalid: a log range needs low > 0")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise ConfigError(f"{where}.int={list(bounds)} is invalid: integer bounds")
    step = data.get("step")
    return Param(key, kind, low=low, high=high, log=log, step=int(step) if step is not None else None, when=when,
                 keys=tuple(keys))


def _limits(data: Mapping[str, Any]) -> Limits:
    _unknown("search.limits.", data, list(Limits.__dataclass_fields__))
    values = {}
    for key, value in data.items():
        if value is None:
            continue
        number = _number(f"search.limits.{key}", value)
        if number < 0 or (number == 0 and not key.startswith("reserve_")):
            raise ConfigError(f"search.limits.{key}={value!r} is invalid: must be positive")
        values[key] = number if key in ("latency_ms", "accuracy_min", "mse_max") else int(number)
    return Limits(**values)


def parse_spec(data: Mapping[str, Any], name: str) -> SearchSpec:
    """A preset (plain data) as a SearchSpec; ConfigError on the first thing wrong with it."""
    _unknown("search.", data, _SPEC_KEYS)
    params_data = data.get("params") or {}
    if not isinstance(params_data, Mapping) or not params_data:
        raise ConfigError("search.params: the space is empty; declare at least one key to search")
    params = tuple(_param(str(k), v) for k, v in params_data.items())
    for param in params:
        for key, _ in param.when:
            if key not in [p.key for p in params[: params.index(param)]]:
                raise ConfigError(f"search.params.{param.key}.when: {key} is not a parameter declared before it")
    objectives = tuple(str(o) for o in (data.get("objectives") or []))
    if not objectives or any(o not in OBJECTIVES for o in objectives) or len(set(objectives)) != len(objectives):
        raise ConfigError(f"search.objectives={list(objectives)} is invalid: one or more distinct of "
                          + ", ".join(OBJECTIVES))
    sampler = str(data.get("sampler", "tpe"))
    if sampler not in _SAMPLERS:
        raise ConfigError(f"search.sampler={sampler!r} is invalid: allowed values are " + ", ".join(_SAMPLERS))
    search_id = data.get("id")
    if search_id is not None and SWEEP_ID_PATTERN.fullmatch(str(search_id)) is None:
        raise ConfigError(f"search.id={search_id!r} is invalid: {SWEEP_ID_RULE}")
    counts = {k: data.get(k, default) for k, default in (("trials", 20), ("seed", 0), ("give_up_after", 50),
                                                         ("population", 8), ("n_jobs", 1))}
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "seed" else 1):
            raise ConfigError(f"search.{key}={value!r} is invalid: must be an integer >= {0 if key == 'seed' else 1}")
    return SearchSpec(name=name, params=params, objectives=objectives, limits=_limits(data.get("limits") or {}),
                      overrides=tuple(str(o) for o in data.get("overrides") or ()), sampler=sampler,
                      storage=data.get("storage"), id=str(search_id) if search_id is not None else None, **counts)
