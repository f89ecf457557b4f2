"""The scale-out pieces that can be checked without a cluster: instance config, remote models."""

import runpy
import uuid
from dataclasses import replace
from pathlib import Path

import dagster as dg
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.launcher import WorkerStatus
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG
from dagster_k8s import K8sRunLauncher
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from recsys_assets import celery_run_launcher
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.runs import WORKER_TAG
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
    tolerations = launcher["config"]["run_k8s_config"]["pod_spec_config"]["tolerations"]
    assert {t["key"]: t["toleration_seconds"] for t in tolerations} == {
        "node.kubernetes.io/not-ready": 30,
        "node.kubernetes.io/unreachable": 30,
    }, "a run on a lost node fails in about a minute, not after Kubernetes' default 300 s"


def test_celery_instance_config_is_valid_and_a_lost_worker_fails_its_run(monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql+psycopg2://u:p@db/dagster")
    monkeypatch.setenv("RECSYS_CELERY_BROKER_URL", "amqp://u:p@broker:5672//")
    monkeypatch.setenv("RECSYS_CELERY_BACKEND_URL", "db+postgresql+psycopg2://u:p@db/dagster")
    config, _ = dagster_instance_config(str(DEPLOY / "celery"))
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == (celery_run_launcher.__name__, "CeleryRunLauncher")
    checked = process_config(CeleryRunLauncher.config_type(), launcher["config"])
    assert checked.success, checked.errors
    assert checked.value["broker"] == "amqp://u:p@broker:5672//"
    assert checked.value["backend"].startswith("db+"), "run monitoring reads task states from any process"
    settings = runpy.run_path(str(DEPLOY / "celery" / "dagster_celery_config.py"))
    for source in (settings, checked.value["config_source"]):
        assert source["task_acks_late"] and source["task_reject_on_worker_lost"]
        assert source["worker_prefetch_multiplier"] == 1


def test_a_run_whose_celery_task_ended_before_it_did_is_failed_naming_the_lost_worker(monkeypatch):
    launcher = celery_run_launcher.CeleryRunLauncher(
        default_queue="dagster", broker="amqp://u:p@broker:5672//", backend="db+sqlite://"
    )
    task_states = {}
    monkeypatch.setattr(
        launcher.celery, "AsyncResult", lambda task: type("Result", (), {"state": task_states[task]})
    )
    with dg.instance_for_test() as instance:
        launcher.register_instance(instance)
        tags = {DAGSTER_CELERY_TASK_ID_TAG: "task-1", WORKER_TAG: "w1"}
        run = instance.create_run_for_job(dg.GraphDefinition("nothing").to_job(), tags=tags)
        instance.handle_run_event(run.run_id, dg.DagsterEvent("PIPELINE_START", "nothing"))
        started = instance.get_run_by_id(run.run_id)
        assert started.status == dg.DagsterRunStatus.STARTED

        task_states["task-1"] = "STARTED"
        assert launcher.check_run_worker_health(started).status == WorkerStatus.RUNNING
        task_states["task-1"] = "SUCCESS"
        lost = launcher.check_run_worker_health(started)
        assert lost.status == WorkerStatus.FAILED and "the worker on w1 was lost" in lost.msg
        assert launcher.get_run_worker_debug_info(started) == "Celery task task-1: SUCCESS"

        instance.report_run_failed(started)
        assert launcher.check_run_worker_health(started).status == WorkerStatus.SUCCESS, "a run that ended"


def test_models_round_trip_through_a_remote_filesystem(small_settings: Settings):
    remote = replace(small_settings, models_url=f"memory://recsys-{uuid.uuid4().hex}/models")
    with dg.instance_for_test() as instance:
        result = retrain(remote, instance)
        best = build_definitions(remote).load_asset_value("best_model", instance=instance)
        event = instance.get_latest_materialization_event(dg.AssetKey("best_model"))
    assert best.config_key == result.config_key
    assert not small_settings.models_dir.exists(), "nothing is written to the local models folder"
    assert event.asset_materialization.metadata["path"].value.startswith("memory://")
