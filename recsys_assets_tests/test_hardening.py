"""Bad input, hostile partition keys, killed and concurrent retrains: good data and models survive."""

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from recsys_assets.core.data.playlists import SPLIT_TABLES
from recsys_assets.core.data.sources import SourceDataError, open_source_rows
from recsys_assets.core.models.parameters import ConfigError
from recsys_assets.core.search.space import load_search_space
from recsys_assets.core.storage.files import NotARegularFile
from recsys_assets.core.storage.fingerprint import file_fingerprint
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.partitions import model_configs
from recsys_assets.graph.resources import PlaylistDatabase
from recsys_assets.retrain import RetrainStopped, retrain
from recsys_assets.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def table_sizes(settings: Settings) -> dict[str, int]:
    with PlaylistDatabase(database=str(settings.duckdb_path)).get_connection() as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            for table in ("playlists", *SPLIT_TABLES)
        }


def model_files(settings: Settings) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in sorted(settings.models_dir.rglob("*.npz"))}


def runs_of(instance: dg.DagsterInstance, job: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(job_name=job)))


def test_a_source_without_enough_playlists_leaves_the_last_good_data_and_models(
    small_settings: Settings, tmp_path: Path
):
    two_tracks_each = tmp_path / "short.parquet"
    pd.DataFrame(
        [(i, "u", "a", str(i), f"p{i // 2}") for i in range(400)],
        columns=["row_id", "user_id", "artist", "track", "playlist"],
    ).to_parquet(two_tracks_each)
    with dg.instance_for_test() as instance:
        first = retrain(small_settings, instance)
        tables, models = table_sizes(small_settings), model_files(small_settings)
        broken = replace(small_settings, playlists_path=two_tracks_each)
        with pytest.raises(RetrainStopped, match="only 0 of 200 playlists have more than 2 complete tracks"):
            retrain(broken, instance)
        assert table_sizes(small_settings) == tables and all(tables.values())
        assert model_files(small_settings) == models

        with pytest.raises(RetrainStopped, match="only 0 of 200 playlists"):
            retrain(broken, instance, resume=True)
        assert table_sizes(small_settings) == tables
        assert retrain(small_settings, instance) == first, "the source as it was: nothing to retrain"


def test_a_partition_key_that_is_no_config_key_never_becomes_a_path(small_settings: Settings, tmp_path: Path):
    defs = build_definitions(small_settings)
    planted = small_settings.data_dir / "evil.npz"
    with dg.instance_for_test() as instance:
        retrain(small_settings, instance)
        planted.write_bytes((small_settings.models_dir / "best_model.npz").read_bytes())
        instance.add_dynamic_partitions(model_configs.name, ["../../evil"])
        with pytest.raises(dg.Failure, match=r"Partition key '\.\./\.\./evil' is not a config key"):
            defs.resolve_job_def("select_best_model").execute_in_process(
                instance=instance,
                run_config={"ops": {"best_model": {"config": {"require_all_configs": False}}}},
            )
        with pytest.raises(Exception, match="no config has key"):
            defs.resolve_job_def("train_models").execute_in_process(
                instance=instance, partition_key="../../evil"
            )
    written = [path for path in small_settings.data_dir.rglob("*.npz") if path != planted]
    assert written and all(small_settings.models_dir in path.parents for path in written)
    assert not [path for path in written if "evil" in str(path)], "nothing was written for the hostile key"


def cli(environment: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "recsys_assets.cli", *args],
        env=environment,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def environment(small_settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DAGSTER_HOME": str(tmp_path / "fresh_home"),
        "RECSYS_DATA_DIR": str(small_settings.data_dir),
        "RECSYS_PLAYLISTS_PATH": str(small_settings.playlists_path),
        "RECSYS_SEARCH_SPACE": str(small_settings.search_space_path),
    }


def test_two_first_retrains_at_once_both_succeed_one_after_the_other(environment):
    first, second = cli(environment, "retrain"), cli(environment, "retrain")
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], [err[-2000:] for _, err in outputs]
    assert sum("waiting for it to finish" in out for out, _ in outputs) == 1


def test_a_killed_retrain_leaves_no_run_started_and_resume_finishes_the_job(environment, monkeypatch):
    retraining = cli(environment, "retrain")
    home = Path(environment["DAGSTER_HOME"])
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (home / ".recsys_initialized").exists():
            with dg.DagsterInstance.get() as instance:
                started = instance.get_runs(
                    filters=dg.RunsFilter(job_name="train_models", statuses=[dg.DagsterRunStatus.STARTED])
                )
            if started:
                break
        time.sleep(0.2)
    retraining.send_signal(signal.SIGKILL)
    retraining.communicate()
    resumed = cli(environment, "retrain", "--resume")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    assert "failed: the retrain that ran it was killed" in out
    with dg.DagsterInstance.get() as instance:
        statuses = {run.status for run in instance.get_runs()}
        assert dg.DagsterRunStatus.STARTED not in statuses
        assert dg.DagsterRunStatus.FAILURE in statuses


def test_reading_while_this_process_still_holds_a_writing_connection(tmp_path: Path):
    database = PlaylistDatabase(database=str(tmp_path / "tables.duckdb"))
    with database.get_connection() as writer:
        writer.execute("CREATE TABLE t AS SELECT 1 AS x")
        with database.read_connection() as reader:
            assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_a_write_that_fails_releases_its_connection(tmp_path: Path):
    database = PlaylistDatabase(database=str(tmp_path / "tables.duckdb"))
    with pytest.raises(ZeroDivisionError) as failure, database.get_connection() as writer:
        writer.execute("CREATE TABLE t AS SELECT 1 AS x")
        1 / 0  # noqa: B018
    assert failure.traceback, "the traceback, which holds the block's frame, is still alive"
    with duckdb.connect(database.database, read_only=True) as reader:
        assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_a_fifo_device_or_folder_is_refused_before_anything_reads_it(tmp_path: Path, kind: str):
    """Reading /dev/zero or a FIFO never ends; every reader of a source or search space checks
    first. An alarm turns a hang into a failure."""
    if kind == "fifo":
        path = tmp_path / "rows.parquet"
        os.mkfifo(path)
    elif kind == "folder":
        path = tmp_path / "rows.parquet"
        path.mkdir()
    else:
        path = Path("/dev/zero")
    signal.alarm(20)
    try:
        with pytest.raises(NotARegularFile, match=re.escape(str(path))):
            file_fingerprint(path, "playlist source file")
        with (
            duckdb.connect() as conn,
            pytest.raises(SourceDataError, match="expected a regular file"),
            open_source_rows(conn, path),
        ):
            pass
        with pytest.raises(ConfigError, match="search-space file is a"):
            load_search_space(path)
    finally:
        signal.alarm(0)
