"""A real `dagster dev` in the project root: the graph as the UI shows it, and "Materialize all"."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from recsys_assets.core.search.space import load_search_space
from recsys_assets.graph.history import latest_materialization
from recsys_assets.graph.partitions import model_configs
from recsys_assets.instance import INSTANCE_SETTINGS
from recsys_assets.settings import Settings
from recsys_assets_tests.processes import REPO, start, stop, wait_until

pytestmark = pytest.mark.slow

ASSETS = [
    "playlists",
    "train_playlists",
    "validate_playlists",
    "test_playlists",
    "training_statistics",
    "baselines",
    "embedding_model",
    "best_model",
    "test_evaluation",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert "errors" not in body, body
    return body["data"]


@contextmanager
def serving(command: list[str], settings: Settings, tmp_path: Path):
    """Run a dev server command (with -h and -p added) on a fresh instance until the block ends."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(INSTANCE_SETTINGS, home / "dagster.yaml")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DAGSTER_HOME": str(home),
        "RECSYS_DATA_DIR": str(settings.data_dir),
        "RECSYS_PLAYLISTS_PATH": str(settings.playlists_path),
        "RECSYS_SEARCH_SPACE": str(settings.search_space_path),
    }
    log = tmp_path / "dev_server.log"
    process = start([*command, "-h", "127.0.0.1", "-p", str(port)], env, log)

    def ready() -> bool:
        try:
            return bool(graphql(port, "{ version }"))
        except OSError:
            return False

    try:
        wait_until(ready, 120, "the webserver", log)
        yield port, home, log
    finally:
        stop(process, home)


@pytest.fixture
def dagster_dev(small_settings: Settings, tmp_path: Path):
    with serving([sys.executable, "-m", "dagster", "dev"], small_settings, tmp_path) as server:
        yield server


ASSET_NODES = """
{ assetNodes {
    assetKey { path } groupName description isPartitioned
    assetChecksOrError { ... on AssetChecks { checks { name } } }
} }
"""

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


def test_ui_shows_the_graph_and_materialize_all_finishes_with_the_test_evaluation(
    dagster_dev, small_settings
):
    port, home, log = dagster_dev
    nodes = {tuple(n["assetKey"]["path"]): n for n in graphql(port, ASSET_NODES)["assetNodes"]}
    assert sorted(key[0] for key in nodes) == sorted(ASSETS)
    assert {nodes[(a,)]["groupName"] for a in ASSETS} == {"data", "models", "evaluation"}
    assert all(nodes[(a,)]["description"] for a in ASSETS)
    assert nodes[("embedding_model",)]["isPartitioned"]
    checks = {a: [c["name"] for c in nodes[(a,)]["assetChecksOrError"]["checks"]] for a in ASSETS}
    assert checks["playlists"] == ["playlists_are_well_formed"]
    assert checks["test_playlists"] == ["split_is_disjoint_complete_70_20_10"]

    keys = [config.key for config in load_search_space(small_settings.search_space_path)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        wait_until(
            lambda: sorted(instance.get_dynamic_partitions(model_configs.name)) == sorted(keys),
            120,
            "the register_configs sensor",
            log,
        )
    launched = graphql(
        port, LAUNCH, {"params": {"assetSelection": [{"path": [a]} for a in ASSETS], "allPartitions": True}}
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    with dg.DagsterInstance.from_config(str(home)) as instance:

        def latest(asset: str, partition: str | None = None):
            return latest_materialization(instance, asset, partition)

        evaluation = wait_until(lambda: latest("test_evaluation"), 420, "test_evaluation", log)
        trained = [latest("embedding_model", key) for key in keys]
        assert all(trained)
        assert latest("best_model").timestamp >= max(record.timestamp for record in trained)
        assert evaluation.timestamp >= latest("best_model").timestamp
        assert isinstance(evaluation.asset_materialization.metadata["test_hit_rate"].value, float)


SENSORS = """
{ sensorsOrError(
    repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "recsys_assets"}
  ) { ... on Sensors { results { name description } } }
}
"""


def test_dg_dev_serves_the_same_graph_with_described_sensors(small_settings: Settings, tmp_path: Path):
    dg_command = str(Path(sys.executable).with_name("dg"))
    with serving([dg_command, "dev"], small_settings, tmp_path) as (port, _, log):

        def loaded():
            try:
                return graphql(port, ASSET_NODES)["assetNodes"]
            except (OSError, AssertionError):
                return None

        nodes = wait_until(loaded, 120, "the code location", log)
        assert sorted(node["assetKey"]["path"][0] for node in nodes) == sorted(ASSETS)
        sensors = graphql(port, SENSORS)["sensorsOrError"]["results"]
        assert {sensor["name"] for sensor in sensors} == {
            "train_after_data",
            "select_after_training",
            "register_configs",
            "propose_trials",
            "best_model_freshness",
        }
        assert all(sensor["description"] for sensor in sensors)


JOB_RUNS = """
query JobRuns($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) { ... on Pipeline { runs { runId tags { key value } } } }
}
"""
LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
CLI_SPACE = """
[[config]]
name = "cli-small"
min_count = 2
epochs = 2
vector_size = 8

[[config]]
model = "rules"
steps = 3
"""


def selector(job: str) -> dict:
    return {
        "repositoryLocationName": "recsys_assets",
        "repositoryName": "__repository__",
        "pipelineName": job,
    }


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "recsys_assets.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_cli_retrain_beside_the_ui_with_another_search_space_keeps_one_story(
    dagster_dev, small_settings, tmp_path
):
    port, home, log = dagster_dev
    daemons = [config.key for config in load_search_space(small_settings.search_space_path)]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        wait_until(
            lambda: sorted(instance.get_dynamic_partitions(model_configs.name)) == sorted(daemons),
            120,
            "the daemon's register_configs",
            log,
        )
    other = tmp_path / "cli_space.toml"
    other.write_text(CLI_SPACE)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DAGSTER_HOME": str(home),
        "RECSYS_DATA_DIR": str(small_settings.data_dir),
        "RECSYS_PLAYLISTS_PATH": str(small_settings.playlists_path),
        "RECSYS_SEARCH_SPACE": str(other),
    }
    retrained = cli(env, "retrain")
    assert retrained.returncode == 0, retrained.stdout + retrained.stderr
    assert "Traceback" not in retrained.stdout + retrained.stderr
    assert f"reads another search space ({small_settings.search_space_path})" in retrained.stdout
    retrain_id = retrained.stdout.split("Retrain ", 1)[1].split(":", 1)[0]
    time.sleep(45)  # the daemon's register_configs ticks every 30 s

    mine = ["cli-small", "rules-div-last3-recencydiv-steps3"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert sorted(instance.get_dynamic_partitions(model_configs.name)) == sorted(mine), "none deleted"
        selected = latest_materialization(instance, "best_model").asset_materialization.metadata
        assert sorted(selected["configs_compared"].value) == sorted(mine)
        assert selected["configs_not_compared"].value == []
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"recsys/retrain": retrain_id}))
        assert len(runs) == 4 and all(run.tags["recsys/driver"] == "recsys-assets retrain" for run in runs)
        by_others = [
            (run.job_name, run.asset_selection, run.tags)
            for run in instance.get_runs()
            if run.run_id not in {r.run_id for r in runs} and run.asset_selection != frozenset()
        ]
        assert by_others == [], "beside the retrain, the daemon only ran freshness checks"
    shown = graphql(port, JOB_RUNS, {"selector": selector("train_models")})["pipelineOrError"]["runs"]
    assert {run["runId"] for run in shown} == {run.run_id for run in runs if run.job_name == "train_models"}
    again = cli(env, "retrain")
    assert "Nothing changed" in again.stdout, again.stdout + again.stderr

    version = next(run.run_id for run in runs if run.job_name == "select_best_model")
    promoted = cli(env, "promote", version[:8], "--reason", "hold this one")
    assert promoted.returncode == 0 and "Pinned" in promoted.stdout, promoted.stdout + promoted.stderr
    launched = graphql(
        port, LAUNCH_RUN, {"params": {"selector": selector("prepare_data"), "runConfigData": {}}}
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    data_run = launched["run"]["runId"]
    with dg.DagsterInstance.from_config(str(home)) as instance:

        def chain_trained():
            training = instance.get_runs(filters=dg.RunsFilter(job_name="train_models"))
            after = [run for run in training if run.tags.get("recsys/retrain") == f"after-{data_run[:8]}"]
            return len(after) == len(mine) and all(run.is_finished for run in after) and after

        after = wait_until(chain_trained, 300, "the sensors' training runs after the UI's data run", log)
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in after)
        assert sorted(run.tags["dagster/partition"] for run in after) == sorted(mine), "the recorded set"
        time.sleep(90)  # select_after_training ticks every 60 s
        assert (
            latest_materialization(instance, "best_model")
            .asset_materialization.metadata["promoted_from"]
            .value.startswith(version[:8])
        ), "the pinned model is still served"
        selections = instance.get_runs(filters=dg.RunsFilter(job_name="select_best_model"))
        assert [run.tags["recsys/retrain"] for run in selections] == [retrain_id]
    history = cli(env, "models", "--history")
    assert "pinned" in history.stdout, history.stdout
    assert "Traceback" not in log.read_text()
