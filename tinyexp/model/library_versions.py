"""The versions of the libraries that make a trained model, read without importing them.

Why: the training cache key holds TensorFlow's and Keras's versions, and a warm job (its model
and conversions cached) needs nothing else from TensorFlow; importing it only to read
`tf.__version__` was half of such a job's wall time. The installed distribution's metadata
gives the same string. TensorFlow ships under several distribution names (tensorflow,
tensorflow-cpu, ...); when none or more than one of them is installed, or TensorFlow is
already imported, the module's own `__version__` is read instead.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys

import numpy as np

TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos",
                            "tensorflow-aarch64", "tf-nightly", "tf-nightly-cpu")


def _installed(names: tuple[str, ...]) -> set[str]:
    versions = set()
    for name in names:
        try:
            versions.add(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def module_version(module: str, distributions: tuple[str, ...]) -> str:
    """`module.__version__`, from the one installed distribution that provides it when the
    module is not imported yet, else by importing it."""
    if module not in sys.modules:
        found = _installed(distributions)
        if len(found) == 1:
            return found.pop()
    return str(importlib.import_module(module).__version__)


def training_library_versions() -> dict[str, str]:
    """TensorFlow's, Keras's and NumPy's versions, as `__version__` gives them."""
    return {"tensorflow": module_version("tensorflow", TENSORFLOW_DISTRIBUTIONS),
            "keras": module_version("keras", ("keras",)),
            "numpy": np.__version__}
