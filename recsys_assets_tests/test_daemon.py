"""The production shape on this machine: a Postgres-backed instance, the queued run coordinator and
the real `dagster-daemon` run the nightly chain on their own, and run monitoring fails a killed run.

Needs a PostgreSQL server: RECSYS_TEST_POSTGRES_URL names a role that may create databases
(`.ci/start-postgres` installs, starts and prints one). Without it the test is skipped; with it, a
server that cannot be reached fails the test.
"""

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator

from recsys_assets.core.search.space import load_search_space
from recsys_assets.graph.history import latest_metadata
from recsys_assets.graph.jobs import RETRAIN_TAG, TRAINING_RUNS_AT_ONCE
from recsys_assets.instance import INSTANCE_SETTINGS
from recsys_assets.run_launcher import run_process
from recsys_assets_tests.conftest import FAST_CONFIGS, write_search_space
from recsys_assets_tests.processes import kill_tree, next_minute_cron, start_daemon, stop

POSTGRES_URL = os.environ.get("RECSYS_TEST_POSTGRES_URL")
CHAIN_TIMEOUT_SECONDS = 600
CONFIGS = (
    """
[[config]]
name = "killed"
min_count = 2
epochs = 1000
vector_size = 16
window = 5
"""
    + FAST_CONFIGS
    + """
[[config]]
model = "hybrid"
"""
)
"""The long config comes first, so the queue starts it beside another; the test kills it only once
both run, so the overlap depends on the queue alone, not on how fast runs start."""


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("no PostgreSQL: set RECSYS_TEST_POSTGRES_URL (.ci/start-postgres prints one)")
    if not POSTGRES_URL.startswith("postgresql://") or "\n" in POSTGRES_URL:
        pytest.fail(f"RECSYS_TEST_POSTGRES_URL should be one postgresql:// URL, got {POSTGRES_URL!r}")
    import psycopg2
    from psycopg2.extensions import ISOLATION_LEVEL_AUTOCOMMIT

    name = f"recsys_test_{uuid.uuid4().hex[:12]}"
    server = psycopg2.connect(POSTGRES_URL)
    server.set_isolation_level(ISOLATION_LEVEL_AUTOCOMMIT)
    with server.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        # SQLAlchemy 2.1 takes psycopg 3 for a bare postgresql:// URL; Dagster's storage needs psycopg2.
        yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+psycopg2://", 1)
    finally:
        with server.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        server.close()


def postgres_instance_settings(url: str) -> dict:
    """The packaged instance settings with Postgres storage and a quick monitoring poll."""
    settings = yaml.safe_load(INSTANCE_SETTINGS.read_text())
    settings["storage"] = {"postgres": {"postgres_url": url}}
    settings["run_monitoring"]["poll_interval_seconds"] = 5
    settings["run_queue"]["dequeue_interval_seconds"] = 2
    return settings


def overlap(runs: list[dg.RunRecord]) -> int:
    """The most of `runs` that were in progress at the same moment."""
    edges = sorted(
        [(run.start_time, 1) for run in runs if run.start_time]
        + [(run.end_time, -1) for run in runs if run.end_time]
    )
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def test_the_daemon_runs_the_nightly_chain_on_postgres_and_fails_a_killed_run(
    postgres_database: str, small_rows: Path, tmp_path: Path
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(postgres_instance_settings(postgres_database)))
    space = write_search_space(tmp_path, CONFIGS)
    keys = [config.key for config in load_search_space(space)]
    killed_key = "killed"
    log = tmp_path / "daemon.log"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RECSYS_DATA_DIR": str(tmp_path / "data"),
        "RECSYS_PLAYLISTS_PATH": str(small_rows),
        "RECSYS_SEARCH_SPACE": str(space),
        "RECSYS_STUDY_URL": postgres_database,
        "RECSYS_NIGHTLY_CRON": next_minute_cron(),
        "RECSYS_TIMEZONE": "UTC",
    }
    daemon = start_daemon(env, log)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
            killed_pid = None
            deadline = time.monotonic() + CHAIN_TIMEOUT_SECONDS
            while not latest_metadata(instance, "test_evaluation"):
                assert daemon.poll() is None, f"the daemon exited:\n{log.read_text()[-4000:]}"
                assert time.monotonic() < deadline, f"the chain did not finish:\n{log.read_text()[-4000:]}"
                if killed_pid is None:
                    running = instance.get_runs(
                        filters=dg.RunsFilter(job_name="train_models", statuses=[dg.DagsterRunStatus.STARTED])
                    )
                    for run in running:
                        if (
                            run.tags.get("dagster/partition") == killed_key
                            and len(running) > 1
                            and instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
                        ):
                            killed_pid = run_process(instance, run)
                            kill_tree(killed_pid)
                time.sleep(1)

            runs = instance.get_run_records()
            by_job = {
                job: [r for r in runs if r.dagster_run.job_name == job]
                for job in {"prepare_data", "train_models", "select_best_model"}
            }
            (data_run,) = by_job["prepare_data"]
            night = data_run.dagster_run.tags[RETRAIN_TAG]
            assert night.startswith("nightly-"), "the schedule started the data run"
            chain = by_job["prepare_data"] + by_job["train_models"] + by_job["select_best_model"]
            assert {r.dagster_run.tags.get(RETRAIN_TAG) for r in chain} == {night}, "one story"

            training = by_job["train_models"]
            assert sorted(r.dagster_run.tags["dagster/partition"] for r in training) == sorted(keys)
            assert overlap(training) == TRAINING_RUNS_AT_ONCE, "two training runs at once, never more"

            (killed,) = [r for r in training if r.dagster_run.tags["dagster/partition"] == killed_key]
            assert killed_pid and killed.dagster_run.status == dg.DagsterRunStatus.FAILURE
            said = " ".join(record.message for record in instance.all_logs(killed.dagster_run.run_id))
            assert "SIGKILL" in said or f"process {killed_pid} that ran it is gone" in said

            (selection,) = by_job["select_best_model"]
            story = [
                (
                    r.dagster_run.job_name,
                    r.dagster_run.tags.get("dagster/partition"),
                    r.dagster_run.status.value,
                    r.start_time,
                    r.end_time,
                    r.dagster_run.tags.get("recsys/configs_failed"),
                )
                for r in reversed(runs)
            ]
            assert selection.dagster_run.tags.get("recsys/configs_failed") == killed_key, story
            assert latest_metadata(instance, "best_model")["configs_not_compared"] == [killed_key]
    finally:
        stop(daemon, home)
