"""The code's shape: layers import downward, the agent stands alone, names are defined once."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT
from tinyexp.core.names import OLD_METRIC_NAMES, Artifact, ExperimentTag, Metric, Tag

BLOCKED = ("tinyexp", "tensorflow", "keras", "tflite_micro", "numpy", "mlflow", "hydra", "omegaconf")


def test_import_contracts_hold() -> None:
    """Layer order, the agent's independence and no cycles (pyproject's [tool.importlinter])."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"Contracts: \d+ kept, 0 broken", done.stdout), done.stdout[-2000:]


def test_agent_runs_with_tensorflow_and_tinyexp_unimportable(tmp_path: Path) -> None:
    """What a small host next to a board has: Python, pyserial, and nothing of tinyexp's stack."""
    script = (f"import runpy, sys\n"
              f"for name in {BLOCKED!r}:\n    sys.modules[name] = None  # import raises ImportError\n"
              "import agent.cli, agent.client, agent.session, agent.protocol, agent.board_process\n"
              "sys.argv = ['agent', '--help']\n"
              "runpy.run_module('agent', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--port" in done.stdout and "--virtual" in done.stdout


def _values(cls: type) -> set[str]:
    return {v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)}


def test_architecture_doc_lists_every_mlflow_name_and_no_unknown_metric() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    section = doc.split("## MLflow names", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([A-Za-z0-9_.]+)`", section))
    defined = _values(Metric) | _values(Tag) | _values(Artifact) | _values(ExperimentTag)
    assert not defined - listed, f"defined in tinyexp/core/names.py, missing from the doc: {defined - listed}"
    metrics_part = section.split("- Metrics", 1)[1].split("- Tags:", 1)[0]
    in_doc = set(re.findall(r"`([a-z0-9_]+)`", metrics_part))
    assert not in_doc - _values(Metric) - set(OLD_METRIC_NAMES), "metrics in the doc that names.py lacks"


def test_the_pipeline_names_no_cluster() -> None:
    """The farm is a device backend: no module of the pipeline names Ray or the farm, so it
    cannot branch on them (the import contract stops the imports; this, a `ray`/`farm` name)."""
    for path in sorted((ROOT / "tinyexp" / "pipeline").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {x for x in names if re.search(r"(^|[._])(ray|farm)([._]|$)", x)}, path.name
