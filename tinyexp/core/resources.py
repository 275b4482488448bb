"""Where tinyexp's own files are: the packaged Hydra configs, the firmware sketch, reference data.

An installed wheel carries conf/ and firmware/ inside the package (tinyexp/conf,
tinyexp/firmware); a source checkout keeps them at the repository's top level, where people
edit them. Every module asks here instead of walking up from its own file, so the two
layouts cannot drift apart and a module can move without breaking a path.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_CHECKOUT_DIR = _PACKAGE_DIR.parent


def package_dir() -> Path:
    """The tinyexp package's own folder (its modules and reference data)."""
    return _PACKAGE_DIR


def checkout_root() -> Path | None:
    """The source checkout tinyexp runs from, or None when it runs from an installed wheel."""
    if (_CHECKOUT_DIR / "pyproject.toml").is_file() and (_CHECKOUT_DIR / "conf").is_dir():
        return _CHECKOUT_DIR
    return None


def _resource(name: str) -> Path:
    packaged = _PACKAGE_DIR / name
    if packaged.is_dir():
        return packaged
    root = checkout_root()
    if root is not None:
        return root / name
    raise FileNotFoundError(f"tinyexp's {name}/ is missing from {_PACKAGE_DIR}; reinstall tinyexp")


def conf_dir() -> Path:
    """The packaged Hydra config directory (config.yaml and one folder per group)."""
    return _resource("conf")


def firmware_dir() -> Path:
    """The firmware folder: the Arduino sketch (tinyexp_firmware/) and versions.json."""
    return _resource("firmware")


def reference_data(name: str) -> Path:
    """A CSV shipped in tinyexp/reference_data (published measurements and tables)."""
    return _PACKAGE_DIR / "reference_data" / name
