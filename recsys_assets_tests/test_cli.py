"""The commands users run, as subprocesses sharing one persistent Dagster instance."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_assets.settings import Settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def environment(small_settings: Settings, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DAGSTER_HOME": str(home),
        "RECSYS_DATA_DIR": str(small_settings.data_dir),
        "RECSYS_PLAYLISTS_PATH": str(small_settings.playlists_path),
        "RECSYS_SEARCH_SPACE": str(small_settings.search_space_path),
    }


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def materialize(env: dict[str, str], cwd: Path, *selection: str) -> subprocess.CompletedProcess:
    return run(
        env, cwd, "-m", "dagster", "asset", "materialize", "-m", "recsys_assets", "--select", *selection
    )


def test_materialize_before_training_says_what_to_run_first(environment, tmp_path: Path):
    result = materialize(environment, tmp_path, "best_model")
    assert result.returncode != 0
    assert "recsys-assets retrain" in result.stdout + result.stderr


def test_retrain_then_materialize_in_the_same_instance(environment, tmp_path: Path):
    retrained = run(environment, tmp_path, "-m", "recsys_assets.cli", "retrain")
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert "Best config: " in retrained.stdout
    assert "test hit rate@100:" in retrained.stdout
    assert str(Path(environment["RECSYS_DATA_DIR"]) / "models" / "best_model.npz") in retrained.stdout

    for selection in (["best_model"], ["test_evaluation"], ["embedding_model", "--partition", "wide-window"]):
        result = materialize(environment, tmp_path, *selection)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "RUN_SUCCESS" in result.stderr + result.stdout


def test_retrain_with_a_bad_search_space_exits_with_its_error(environment, tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[config]]\nepochs = 'many'\n")
    result = run(
        {**environment, "RECSYS_SEARCH_SPACE": str(bad)}, tmp_path, "-m", "recsys_assets.cli", "retrain"
    )
    assert result.returncode == 2
    assert f"{bad}, config #1: parameter 'epochs' must be int" in result.stderr
