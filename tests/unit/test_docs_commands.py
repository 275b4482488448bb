"""Every command the docs show a user works as written, or the suite fails (not the user).

The commands are read from the docs themselves: fenced bash/sh blocks and inline code spans
that start with `python -m` or `tinyexp` in README.md, docs/ and firmware/README.md. Each is
checked without doing its work:
- `tinyexp` / `python -m tinyexp` jobs and sweeps: every job composed and validated by the
  command's own preflight (file paths in the docs are placeholders, so the model source is
  not opened); a search, `tinyexp search` or `-m hydra/sweeper=search`, read and its searched
  keys preflighted as `tinyexp search` does;
- subcommands and `python -m` tools: their argument parser run on the documented arguments
  (a renamed flag or key exits 2), stopping before any work;
- `pytest` paths: they exist.
Commands of other programs (pip, apt-get, ray, mlflow, ...) are listed here and skipped; a
command of any other form fails the test until it is classified.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from pathlib import Path
from typing import Any, Iterator

import pytest

from tinyexp.cli import main as cli_main
from tinyexp.cli import search_cmd
from tinyexp.cli.main import SUBCOMMAND_MODULES
from tinyexp.estimate import per_operator
from tinyexp.model import sources

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "firmware" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
OTHER_PROGRAMS = {"pip", "python3 -m venv", "apt-get", "pg_ctlcluster", "systemctl", "runuser", "printf", "chmod",
                  "export", "ray", "mlflow", "arduino-cli", "make"}
ENTRY_MODULES = {"tinyexp.estimate": "tinyexp.estimate.cli", "agent": "agent.cli"}
_FENCE = re.compile(r"^ *```(?:bash|sh)\n(.*?)^ *```", re.S | re.M)
_INLINE = re.compile(r"(?<!`)`((?:\.venv/bin/)?(?:python3? -m |tinyexp )(?![\w.]+:)[^`]*)`")  # not its output


class _Parsed(BaseException):
    """Raised once a command's arguments parsed: the check stops before the command's work."""


def _commands(text: str) -> Iterator[str]:
    for block in _FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|;|\|", line):
                if part.strip() and not part.strip().startswith("#"):
                    yield " ".join(part.split())
    for span in _INLINE.findall(text):
        yield " ".join(span.split())


def _doc_commands() -> list[Any]:
    found = []
    for doc in DOCS:
        for command in dict.fromkeys(_commands(doc.read_text())):
            found.append(pytest.param(command, id=f"{doc.relative_to(ROOT)}: {command[:70]}"))
    return found


def _argv(command: str) -> list[str]:
    words = [w for w in shlex.split(command, comments=True) if w != "..."]
    words[0] = words[0].removeprefix(".venv/bin/")
    return words


def _parse_only(entry_module: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the module's main on ``argv`` until its argument parser has parsed them."""
    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
        raise _Parsed(parse(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    main = importlib.import_module(entry_module).main
    with pytest.raises(_Parsed):
        code = main(argv)
        pytest.fail(f"{entry_module} {argv} returned {code} before its arguments parsed")


def _preflight(argv: list[str]) -> None:
    configs = cli_main.preflight(cli_main._overrides(argv), cli_main._is_multirun(argv),
                                 cli_main.user_config_dirs(argv))
    assert configs


def _check_search(argv: list[str]) -> None:
    """A documented search (`tinyexp search` or its multirun form): its preset and values read,
    and every searched key preflighted."""
    from tinyexp.core.resources import conf_dir

    if not argv:  # named in prose
        return
    for value in (a.split("=", 1)[1] for a in argv if a.startswith("search=") and a.endswith(".yaml")):
        Path(value).write_text((conf_dir() / "search" / "dense_sine.yaml").read_text())  # the user's own space
    if "--help" in argv:
        assert search_cmd.main(argv, cli_main.preflight, cli_main.explain) == 0
        return
    spec, given = search_cmd.load_spec(argv)
    assert search_cmd.check_space(spec, search_cmd.job_overrides(spec.overrides, given), cli_main.preflight)


def _readme_board(home: Path) -> None:
    """The board config README.md tells a user to write, where `--config-dir myconf` finds it."""
    block = re.search(r"```yaml\n(\s*name: feather52840.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README.md's feather52840 board example is gone; update this test"
    (home / "myconf" / "board").mkdir(parents=True)
    (home / "myconf" / "board" / "feather52840.yaml").write_text(block.group(1))


# pytest's options the docs use that take a value (`-n auto`): the value is not a path.
_PYTEST_VALUED = {"-n", "--numprocesses", "--dist", "-k", "-m", "-p", "--durations", "--timeout"}


def _pytest_paths(args: list[str]) -> list[str]:
    """The test paths of a pytest command line, without its options and their values."""
    paths, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in _PYTEST_VALUED:
            skip = True
        elif not arg.startswith("-"):
            paths.append(arg.split("::")[0])
    return paths


@pytest.mark.parametrize("command", _doc_commands())
def test_documented_command_parses(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    if any(command.removeprefix(".venv/bin/").startswith(p) for p in OTHER_PROGRAMS):
        pytest.skip("another program's command")
    argv = _argv(command)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sources, "check_source", lambda cfg: None)  # the docs' files are placeholders
    monkeypatch.setattr(per_operator, "check_calibration", lambda board: None)  # so is myboard.json
    _readme_board(tmp_path)
    if argv[0] in ("python", "python3") and argv[1] == "-m":
        module, args = argv[2], argv[3:]
    elif argv[0] == "tinyexp":
        module, args = "tinyexp", argv[1:]
    else:
        pytest.fail(f"unclassified command in the docs: {command!r}; check it here or list its program")
    if module == "pytest":
        for path in _pytest_paths(args):
            assert (ROOT / path).exists(), f"{command}: {path} does not exist"
    elif module == "tinyexp" and args and args[0] == "doctor":
        _parse_only("tinyexp.cli.doctor", args[1:], monkeypatch) if "--help" in args else _preflight(args[1:])
    elif module == "tinyexp" and args and args[0] == "search":
        _check_search(args[1:])
    elif module == "tinyexp" and search_cmd.SWEEPER in args and cli_main._is_multirun(args):
        search_cmd.multirun_argv(args)  # what python -m tinyexp hands Hydra: refuses what the sweeper cannot take
        _check_search(search_cmd.search_arguments(args))
    elif module == "tinyexp" and args and args[0] in SUBCOMMAND_MODULES:
        _parse_only(SUBCOMMAND_MODULES[args[0]], args[1:], monkeypatch)
    elif module == "tinyexp":
        _preflight(args)
    elif not args:  # a tool named in prose (`python -m tinyexp.tracking.server`): it exists
        assert callable(importlib.import_module(ENTRY_MODULES.get(module, module)).main)
    else:
        _parse_only(ENTRY_MODULES.get(module, module), args, monkeypatch)
    assert "error" not in capsys.readouterr().err


def test_the_docs_hold_the_commands_this_test_checks() -> None:
    """The extraction itself works: a command of each kind is found."""
    commands = [p.values[0] for p in _doc_commands()]
    for expected in ("tinyexp report sweep.id=mlperf_tiny_kws", ".venv/bin/python -m agent --virtual --model",
                     ".venv/bin/python -m tinyexp -m experiment=paper hydra/launcher=joblib",
                     "python -m tinyexp --config-dir myconf board=feather52840",
                     "python -m tinyexp -m hydra/sweeper=search search=cnn_digits"):
        assert any(c.startswith(expected) for c in commands), expected


def test_a_renamed_flag_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as stop:
        _parse_only(SUBCOMMAND_MODULES["report"], ["--sweep", "mlperf_tiny_kws"], monkeypatch)
    assert stop.value.code == 2
