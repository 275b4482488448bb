"""Make a buildable copy of the firmware sketch with the generated model in it.

arduino-cli builds a folder whose name equals its .ino file's name. The runner writes
each run's model C array (model_data.h/.cc) into a fresh copy of that folder, so the
repository's sketch is never modified and concurrent runs cannot see each other's model.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping, Union

from tinyexp.core.errors import TinyexpError

PathLike = Union[str, Path]


def _check_name(name: str) -> None:
    if not name or Path(name).name != name or name in (".", ".."):
        raise TinyexpError(f"generated sketch file {name!r} must be a plain file name")


def prepare_sketch(firmware_dir: PathLike, model_header_files: Mapping[str, Union[bytes, str]],
                   out_dir: PathLike) -> Path:
    """Copy the sketch into out_dir/<sketch name>/ (replacing any earlier copy) and write the model files.

    Returns the new sketch folder, the path to give arduino-cli.
    """
    src = Path(firmware_dir).resolve()
    ino = src / f"{src.name}.ino"
    if not ino.is_file():
        raise TinyexpError(f"{src} is not an Arduino sketch: it needs {ino.name} (the folder and "
                           "the .ino file must have the same name)")
    dest = Path(out_dir).resolve() / src.name
    if dest == src or src in dest.parents or dest in src.parents:
        raise TinyexpError(f"the sketch copy {dest} must be outside the firmware folder {src}")
    for name in model_header_files:
        _check_name(name)

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".*", "build"))
    for name, content in model_header_files.items():
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        (dest / name).write_bytes(data)
    return dest
