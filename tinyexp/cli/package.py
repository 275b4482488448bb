"""`tinyexp package RUN_ID`: fetch a run's model package (its `package/` artifact) into a folder.

The package (tinyexp.tflm.package, docs/package.md) is what a firmware needs to run the model:
the C array, the arena, the operator registration, the I/O quantisation and an example. It is
logged on every deployable run; this command copies it out of the store (key=value for the
store, as every tinyexp command takes config values; --out for the folder). The folder is
filled all at once: the files are downloaded beside it first, so a failure leaves nothing.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path
from typing import Any, NoReturn, Sequence

from tinyexp.core.cli_args import EXIT_FAILED, EXIT_USAGE, check_output_dir, print_error, split_config_args
from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.core.names import Artifact, Tag

_CONFIG_KEYS = {"tracking.uri": "MLflow tracking URI; default sqlite:///<cwd>/mlruns/mlflow.db"}
_RUN_ID = re.compile(r"[0-9a-f]{32}")
_USAGE = "tinyexp package RUN_ID [tracking.uri=URI] [--out DIR]"


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are the convention's one line (a ConfigError), not its two."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message}; usage: {_USAGE}")


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    """`tinyexp package RUN_ID [tracking.uri=URI] [--out DIR]`."""
    values, rest = split_config_args(argv, _CONFIG_KEYS)
    parser = _Parser(
        prog="tinyexp package", description=__doc__.splitlines()[0],
        epilog="config values: " + "; ".join(f"{k}=... {v}" for k, v in _CONFIG_KEYS.items()))
    parser.add_argument("run_id", metavar="RUN_ID", help="the MLflow run whose package to fetch")
    parser.add_argument("--out", type=Path, help="folder to write the package into (default: package_<RUN_ID>); "
                                                 "it must not exist or be empty")
    args = parser.parse_args(rest)
    if _RUN_ID.fullmatch(args.run_id) is None:
        raise ConfigError(f"RUN_ID {args.run_id!r} is not an MLflow run id (32 hexadecimal digits)")
    args.out = args.out or Path(f"package_{args.run_id}")
    check_output_dir(args.out, "--out")
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise ConfigError(f"--out {args.out}: already holds files; give a new or empty folder")
    args.tracking_uri = values.get("tracking.uri") or None
    return args


def _run(client: Any, run_id: str, uri: str) -> Any:  # noqa: ANN401 - MlflowClient, Run
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        raise ConfigError(f"no run {run_id} in {uri}") from exc


def _fetch(args: argparse.Namespace) -> int:
    from tinyexp.tracking.store import default_tracking_uri, existing_store_client

    uri = args.tracking_uri or default_tracking_uri()
    client = existing_store_client(uri)
    if client is None:
        raise ConfigError(f"no MLflow store at {uri}")
    tags = _run(client, args.run_id, uri).data.tags
    if not any(f.path == Artifact.PACKAGE_DIR for f in client.list_artifacts(args.run_id)):
        why = (f"it was not deployable: {tags[Tag.NOT_DEPLOYED_REASON]}" if tags.get(Tag.DEPLOYABLE) == "false"
               else "it has no package/ artifact (logged before packages existed, or not finished)")
        raise ConfigError(f"run {args.run_id} has no model package: {why}")
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tinyexp-package-", dir=out.parent) as tmp:
        fetched = Path(client.download_artifacts(args.run_id, Artifact.PACKAGE_DIR, tmp))
        if out.exists():
            out.rmdir()  # empty, checked before the download
        fetched.rename(out)
    names = sorted(p.name for p in out.iterdir())
    print(f"tinyexp package: run {args.run_id}: {len(names)} files in {out} ({', '.join(names)})")
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point of `tinyexp package` (routed by tinyexp.cli.main); returns the exit code."""
    try:
        args = _parse(argv)
    except TinyexpError as exc:
        print_error(exc)
        return EXIT_USAGE
    try:
        return _fetch(args)
    except ConfigError as exc:
        print_error(exc)
        return EXIT_USAGE
    except (TinyexpError, OSError) as exc:
        print_error(f"fetching the package of run {args.run_id} failed: {exc}")
        return EXIT_FAILED
