"""The scale-out pieces that can be checked without a cluster: instance config, remote models."""

import uuid
from dataclasses import replace
from pathlib import Path

import dagster as dg
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster_k8s import K8sRunLauncher
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from recsys_assets.definitions import build_definitions
from recsys_assets.retrain import retrain
from recsys_assets.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_kubernetes_instance_config_is_valid(monkeypatch):
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "RECSYS_IMAGE"):
        monkeypatch.setenv(name, f"{name.lower()}-value")
    config, _ = dagster_instance_config(str(DEPLOY))
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    checked = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, checked.errors
    mounts = {mount["name"]: mount for mount in checked.value["volume_mounts"]}
    assert mounts["recsys-source"]["readOnly"], "runs share no writable disk"
    assert "emptyDir" in {volume["name"]: volume for volume in checked.value["volumes"]}["scratch"]
    for storage in (PostgresRunStorage, PostgresEventLogStorage, PostgresScheduleStorage):
        checked = process_config(storage.config_type(), config["storage"]["postgres"])
        assert checked.success, checked.errors
        assert checked.value["postgres_db"]["hostname"] == "dagster_pg_host-value"
        assert checked.value["postgres_db"]["scheme"] == "postgresql+psycopg2"
    limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert {"key": "recsys/training", "limit": 4} in limits


def test_models_round_trip_through_a_remote_filesystem(small_settings: Settings):
    remote = replace(small_settings, models_url=f"memory://recsys-{uuid.uuid4().hex}/models")
    with dg.instance_for_test() as instance:
        result = retrain(remote, instance)
        best = build_definitions(remote).load_asset_value("best_model", instance=instance)
        event = instance.get_latest_materialization_event(dg.AssetKey("best_model"))
    assert best.config_key == result.config_key
    assert not small_settings.models_dir.exists(), "nothing is written to the local models folder"
    assert event.asset_materialization.metadata["path"].value.startswith("memory://")
