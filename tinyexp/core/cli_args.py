"""One command-line convention for every tinyexp command.

Config values are `key=value`, with the main command's own keys (`tracking.uri=...`,
`board=...`, `sweep.id=...`); actions and output choices are `--flags`. Every command prints
a failure as one line starting "tinyexp: error: " and exits 2 for bad input (before any work)
or 1 when the work itself failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

from tinyexp.core.errors import ConfigError, TinyexpError

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
ERROR_PREFIX = "tinyexp: error: "


def print_error(message: object) -> None:
    """The one-line form of a failure, on stderr."""
    print(ERROR_PREFIX + " ".join(str(message).split()), file=sys.stderr)


def failure_exit(exc: TinyexpError) -> int:
    """Print a failure's one line; return its exit code: 2 for bad input, else 1."""
    print_error(exc)
    return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED


def split_config_args(argv: Sequence[str], allowed: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """`key=value` arguments (keys from ``allowed``: key -> help) and the rest, in order.

    An unknown key is a ConfigError naming the keys this command takes.
    """
    values: dict[str, str] = {}
    rest: list[str] = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or arg.startswith("-"):
            rest.append(arg)
        elif key in allowed:
            values[key] = value
        else:
            raise ConfigError(f"{key}: unknown key; this command takes " + ", ".join(
                f"{k}=... ({help_text})" for k, help_text in allowed.items()))
    return values, rest


def check_output_dir(path: Path, what: str) -> None:
    """A folder a command will write into, checked before any work: it, or the nearest of its
    parents that exists, must be a folder this user can write in."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{what} {path}: {existing} is a file, not a folder; give a folder to write into")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path}: cannot write in {existing} (permission denied); give another folder")


def config_arg_parser(prog: str, description: str, keys: Mapping[str, str]) -> argparse.ArgumentParser:
    """An argparse parser for a command that also takes `key=value` config values (``keys``):
    `--help` lists them, so every subcommand's help says what it takes and exits 0."""
    return argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config values:\n" + "\n".join(f"  {k}=...  {v}" for k, v in keys.items()))
