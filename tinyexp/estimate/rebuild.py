"""Rebuild the calibration networks and cache their operator lists.

    python -m tinyexp.estimate.rebuild [--check N | --missing]

Each architecture in calibration_architectures.yaml is built with the `layers` builder,
converted with TensorFlow in every mode its rows were measured in, and analysed operator
by operator; the lists go to calibration_operators.json with the TensorFlow version that
made them. Estimates then need no conversion. The operator list does not depend on the
weights, except that the converter drops all-zero biases, so zero-initialised arrays are
set to a small constant first. --check N rebuilds N entries and compares them with the
cache instead of writing it (exit 1 on a difference). --missing builds only the entries the
cache lacks (new rows) and keeps the others.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Mapping, Sequence

import numpy as np

from tinyexp.estimate.convert_modes import convert_mode
from tinyexp.estimate.calibration_rows import OPERATORS_JSON, architectures, cached_operators, operator_key, published_rows
from tinyexp.model.layers import build_layers
from tinyexp.tflm.operators import Operator, analyse_operators


def rebuild(architecture: str, mode: str) -> tuple[Operator, ...]:
    """The operator list of one calibration network converted in one mode."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_layers(architectures()[architecture]["spec"])
    model.set_weights([w if np.any(w) else np.full_like(w, 0.01) for w in model.get_weights()])
    return analyse_operators(convert_mode(model, mode, bool(architectures()[architecture].get("free_batch"))))


def needed_keys() -> list[tuple[str, str]]:
    """(architecture, mode) of every shipped row, each once, sorted."""
    return sorted({(row.architecture, row.mode) for row in published_rows()})


def build_cache(keys: Sequence[tuple[str, str]], progress: Any = None) -> dict[str, Any]:  # noqa: ANN401
    import tensorflow as tf

    operators = {}
    for number, (architecture, mode) in enumerate(keys, 1):
        operators[operator_key(architecture, mode)] = [op.as_dict() for op in rebuild(architecture, mode)]
        if progress:
            progress(f"{number}/{len(keys)} {architecture} {mode}")
    return {"tensorflow": tf.__version__, "operators": operators}


def differences(keys: Sequence[tuple[str, str]]) -> list[str]:
    """Keys whose fresh rebuild differs from the cached list."""
    cached: Mapping[str, tuple[Operator, ...]] = cached_operators()
    return [operator_key(a, m) for a, m in keys if rebuild(a, m) != cached.get(operator_key(a, m))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinyexp.estimate.rebuild", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", type=int, metavar="N", help="compare N rebuilt entries with the cache")
    mode.add_argument("--missing", action="store_true", help="build only the entries the cache lacks")
    args = parser.parse_args(argv)
    keys = needed_keys()
    if args.check:
        step = max(1, len(keys) // args.check)
        bad = differences(keys[::step][:args.check])
        print("cache matches a fresh rebuild" if not bad else f"cache differs for: {', '.join(bad)}")
        return 1 if bad else 0
    kept = json.loads(OPERATORS_JSON.read_text())["operators"] if args.missing and OPERATORS_JSON.exists() else {}
    data = build_cache([k for k in keys if operator_key(*k) not in kept],
                       progress=lambda text: print(text, file=sys.stderr, flush=True))
    data["operators"] = {key: data["operators"].get(key) or kept[key]
                         for key in sorted({*kept, *data["operators"]}) if key in {operator_key(*k) for k in keys}}
    OPERATORS_JSON.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {len(data['operators'])} operator lists to {OPERATORS_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
