"""Validation complete by construction (issue 11, item 1), driven by the schema.

Every numeric field of tinyexp.core.config's dataclasses must have a declared range in
tinyexp.core.limits.RANGES (a field added later without one fails here), and every declared
field is fed values below and above its range, non-finite and of the wrong type, through the
command line's preflight (in-process, the function `tinyexp` calls before Hydra starts): each
must end in one ConfigError line naming the field. The 48 bad configurations of the issue that
got through are replayed, a few as real commands (exit 2, one line, no store created), and
random override strings must end in one line or a valid config, never a traceback.
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyexp.cli.main import preflight
from tinyexp.core import config, limits, validation
from tinyexp.core.errors import ConfigError

NUMERIC = (int, float)


def numeric_fields(schema: type, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every int/float field (also Optional and list of them) of a schema."""
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        kind = hints[f.name]
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        inner = typing.get_args(args[0]) if args and typing.get_origin(args[0]) is list else ()
        if typing.get_origin(kind) is list:
            inner = typing.get_args(kind)
        if kind in NUMERIC or (len(args) == 1 and args[0] in NUMERIC) or (inner and inner[0] in NUMERIC):
            yield prefix + f.name
        elif dataclasses.is_dataclass(kind):
            yield from numeric_fields(kind, f"{prefix}{f.name}.")


def schema_numeric_fields(schema: type = config.Config) -> set[str]:
    """Numeric fields of the schema and of every model and dataset option's schema."""
    fields = set(numeric_fields(schema))
    for group, options in (("model", config.MODEL_SCHEMAS), ("dataset", config.DATASET_SCHEMAS)):
        for option in options.values():
            fields |= set(numeric_fields(option, f"{group}."))
    return fields


def test_every_numeric_field_has_a_declared_range() -> None:
    fields = schema_numeric_fields()
    assert fields, "the schema walk found no numeric fields"
    missing = sorted(fields - set(limits.RANGES))
    assert not missing, f"numeric config fields without a range in tinyexp.core.limits.RANGES: {missing}"
    assert not set(limits.RANGES) - fields, "RANGES names fields the schema does not have"


@dataclasses.dataclass
class _Extra:
    new_rate: float = 1.0
    new_sizes: typing.Optional[list[int]] = None


@dataclasses.dataclass
class _Grown(config.Config):
    extra: _Extra = dataclasses.field(default_factory=_Extra)


def test_a_field_added_without_a_range_is_caught() -> None:
    assert schema_numeric_fields(_Grown) - set(limits.RANGES) == {"extra.new_rate", "extra.new_sizes"}


def _as_override(path: str, value: str) -> str:
    """The override feeding ``value`` to one field (one element of a list field)."""
    if path == "dataset.split":
        return f"dataset.split=[{value},0.2,0.2]"
    if path == "model.widths":
        return f"model.widths=[8,{value}]"
    return f"{path}={value}"


def _bad_values(rule: limits.Range) -> list[str]:
    step = 1 if rule.integer else max(1.0, abs(rule.high) * 0.5)
    below = rule.low if rule.above else rule.low - (1 if rule.integer else max(1.0, abs(rule.low) * 0.5))
    values = [below, rule.high + step]
    shown = [str(int(v)) if rule.integer else repr(float(v)) for v in values]
    return [*shown, "nan", "inf", "-inf", "abc", *(["1.5"] if rule.integer else [])]


CASES = [(path, value) for path, rule in limits.RANGES.items() for value in _bad_values(rule)]


@pytest.mark.parametrize("path, value", CASES, ids=[f"{p}={v}" for p, v in CASES])
def test_each_field_refuses_out_of_range_non_finite_and_wrong_type(path: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        preflight([_as_override(path, value)], False)
    message = str(info.value)
    assert "\n" not in message and path.split(".")[-1] in message, message


# The bad configurations of issue 11 that passed validation, with words the error must hold.
ISSUE_CASES = [
    (["model.neurons=100000"], "model.neurons=100000 is invalid"),
    (["model.neurons=60000"], "is too big to train here: it needs at least"),
    (["train.epochs=100000000"], "train.epochs=100000000 is invalid"),
    (["train.epochs=5000000", "dataset.samples=1000000"], "the shuffle index of 5000000 epochs"),
    (["train.seed=-1"], "train.seed=-1 is invalid"),
    (["dataset.seed=-1"], "dataset.seed=-1 is invalid"),
    (["dataset.x_max=inf"], "dataset.x_max=inf is invalid"),
    (["device.timeout_s=inf"], "device.timeout_s=inf is invalid"),
    (["dataset.samples=10", "dataset.split=[0.04,0.06,0.9]"], "the training split has 0 samples"),
    (["model.inputs=3"], "model.inputs=3 is invalid: the dataset sine has 1 inputs"),
    (["model.outputs=7"], "model.outputs=7 is invalid: the dataset sine has 1 outputs"),
    (["model.name='café'"], "model.name='café' is invalid"),
    (["model.name=a/b"], "model.name='a/b' is invalid"),
    (["train.learning_rate=inf"], "train.learning_rate=inf is invalid"),
    (["train.learning_rate=1e30"], "train.learning_rate=1e+30 is invalid"),
    (["+model.extra=1"], "model.extra: unknown key"),
    (["device.parity_samples=500"], "at most the 200 samples of the test split"),
]


@pytest.mark.parametrize("overrides, words", ISSUE_CASES, ids=[" ".join(o) for o, _ in ISSUE_CASES])
def test_the_issues_bad_configurations_are_refused_before_work(overrides: list[str], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        preflight(overrides, False)
    assert words in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_negative_wait_for_a_dropped_tracking_server_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        preflight(["tracking.reconnect_s=-1"], False)
    assert str(info.value).startswith("tracking.reconnect_s=-1.0 is invalid: must be a finite number >= 0"), info.value
    assert preflight(["tracking.reconnect_s=0"], False)[0].tracking.reconnect_s == 0  # 0: no wait


def test_memory_checks_use_the_machines_memory() -> None:
    cfg = preflight([], False)[0]
    state, index = limits.training_bytes(cfg, config.hidden_widths(cfg.model))
    assert 0 < state < 10**6 and 0 < index < 10**9  # the defaults are small
    with pytest.raises(ConfigError, match="allowed on this machine"):
        limits.check_across(cfg, config.hidden_widths(cfg.model), memory=lambda: state)


@pytest.mark.parametrize("args", [["train.seed=-1"], ["+model.extra=1"], ["-m", "train.learning_rate=0.01,nan"]])
def test_as_a_command_exit_2_one_line_no_store(tmp_path: Path, args: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "tinyexp", *args], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, TINYEXP_CACHE_DIR=str(tmp_path / "c")))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("tinyexp: error: ") and not (tmp_path / "mlruns").exists()


# ------------------------------------------------------------ override fuzz (item 3)

_KEYS = [*limits.RANGES, "model.name", "model.activation", "quant", "quant.mode", "board", "dataset.name",
         "train.optimizer", "tracking.experiment", "sweep.id", "nosuch", "model", "hydra.job.chdir"]
_VALUES = st.one_of(
    st.sampled_from(["1", "0", "-1", "nan", "inf", "1e400", "[1,2]", "[]", "null", "'x y'", "{a: 1}",
                     "${model.inputs}", "${oc.env:HOME}", "true", "0x10", "1_000", "café", "a/b", "", "="]),
    st.integers(-2**40, 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)
_OVERRIDE = st.builds(lambda prefix, key, value: f"{prefix}{key}={value}",
                      st.sampled_from(["", "", "+", "~", "++"]), st.sampled_from(_KEYS), _VALUES) | st.text(max_size=30)


@settings(max_examples=int(os.environ.get("TINYEXP_OVERRIDE_FUZZ_EXAMPLES", "120")), derandomize=True,
          database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_OVERRIDE, min_size=1, max_size=3))
def test_random_overrides_end_in_one_line_or_a_valid_config(overrides: list[str]) -> None:
    try:
        configs = preflight(overrides, False)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc), repr(str(exc))
        return
    for cfg in configs:  # accepted: it must pass its own checks, every figure finite
        validation.validate(cfg)
        for path in limits.RANGES:
            group, _, key = path.partition(".")
            if not hasattr(getattr(cfg, group), key):  # a field of another option of the group
                continue
            value = limits._get(cfg, path)
            for item in (value if isinstance(value, typing.Sequence) and not isinstance(value, str) else [value]):
                assert item is None or math.isfinite(float(item)), (path, item)
