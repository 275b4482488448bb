"""`tinyexp package RUN_ID --out DIR`: a run's package/ artifact into a new folder, or one line saying why not."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from tinyexp.cli.package import main
from tinyexp.core.cli_args import ERROR_PREFIX, EXIT_USAGE
from tinyexp.core.names import Artifact, Tag


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A store with a run holding a package and a run that was not deployable."""
    home = tmp_path_factory.mktemp("package-cli")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("tinyexp", artifact_location=(home / "artifacts").as_uri())
    files = home / "package"
    files.mkdir()
    (files / "model_settings.h").write_text("constexpr unsigned int kArenaBytes = 4096;\n")
    (files / "model_ops.h").write_text("// ops\n")
    packaged = client.create_run(experiment).info.run_id
    client.log_artifacts(packaged, str(files), Artifact.PACKAGE_DIR)
    client.set_terminated(packaged)
    refused = client.create_run(experiment, tags={Tag.DEPLOYABLE: "false",
                                                  Tag.NOT_DEPLOYED_REASON: "model needs 300000 bytes of flash"})
    client.set_terminated(refused.info.run_id)
    return uri, packaged, refused.info.run_id


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith(ERROR_PREFIX) and err.count("\n") == 1, err
    return err


def test_fetches_the_package_into_a_new_folder(store, tmp_path: Path) -> None:  # noqa: ANN001
    uri, packaged, _ = store
    out = tmp_path / "deep" / "pkg"
    assert main([packaged, f"tracking.uri={uri}", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["model_ops.h", "model_settings.h"]
    assert "kArenaBytes = 4096" in (out / "model_settings.h").read_text()
    assert [p.name for p in out.parent.iterdir()] == ["pkg"]  # nothing left beside it


def test_a_folder_holding_files_is_refused_before_work(store, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    uri, packaged, _ = store
    (tmp_path / "mine.txt").write_text("keep")
    assert main([packaged, f"tracking.uri={uri}", "--out", str(tmp_path)]) == EXIT_USAGE
    assert "already holds files" in _error(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_a_run_that_was_not_deployed_says_why(store, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    uri, _, refused = store
    assert main([refused, f"tracking.uri={uri}", "--out", str(tmp_path / "p")]) == EXIT_USAGE
    assert "not deployable: model needs 300000 bytes of flash" in _error(capsys)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("argv, words", [
    (["0" * 32], "no run " + "0" * 32),
    (["not-a-run"], "not an MLflow run id"),
    ([], "required: RUN_ID"),
    (["0" * 32, "tracking.url=x"], "tracking.url: unknown key"),
])
def test_bad_input_is_one_line(store, argv: list[str], words: str, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    uri, _, _ = store
    extra = [] if any(a.startswith("tracking.") for a in argv) else [f"tracking.uri={uri}"]
    assert main([*argv, *extra, "--out", str(tmp_path / "p")]) == EXIT_USAGE
    assert words in _error(capsys)


def test_help_exits_zero(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "RUN_ID" in capsys.readouterr().out
