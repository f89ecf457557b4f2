"""The deploy/ design on a real Kubernetes cluster: `deploy/dagster.yaml`'s K8sRunLauncher sends
every run of the nightly chain, and of a CLI retrain, to its own pod on one of two worker nodes
(`.ci/start-kubernetes`, the project image from `.ci/build-kubernetes-images`). The pods share
only Postgres and an S3 server with the control host; a node killed while its pod trains has its
run failed, and the retrain names the config and selects among the others.

Needs RECSYS_TEST_KUBECONFIG (printed by `.ci/start-kubernetes`), RECSYS_TEST_K8S_IMAGE (printed
by `.ci/build-kubernetes-images`) and RECSYS_TEST_POSTGRES_URL; skipped without them.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from recsys_assets.graph.history import latest_metadata
from recsys_assets.graph.jobs import RETRAIN_TAG
from recsys_assets.graph.runs import WORKER_TAG
from recsys_assets.retrain import retrain
from recsys_assets.settings import Settings
from recsys_assets_tests.processes import (
    REPO,
    next_minute_cron,
    run_retrain,
    start_daemon,
    start_retrain,
    stop,
    wait_until,
)
from recsys_assets_tests.test_celery import HYBRID, LONG_CONFIG, SPACE, s3_everywhere
from recsys_assets_tests.test_daemon import postgres_database
from recsys_assets_tests.test_object_storage import CREDENTIALS

__all__ = ["postgres_database", "s3_everywhere"]

pytestmark = pytest.mark.slow

KUBECONFIG = os.environ.get("RECSYS_TEST_KUBECONFIG")
IMAGE = os.environ.get("RECSYS_TEST_K8S_IMAGE")
CONTROL_HOST = "10.214.0.1"
"""This host as every node reaches it (`.ci/start-kubernetes`)."""
CHAIN_TIMEOUT_SECONDS = 900


def instance_settings(namespace: str, kubeconfig: str | None) -> str:
    """deploy/dagster.yaml for this cluster: the control host reads the kubeconfig, the run pods
    their service account; pods use the node's network (no CNI plugin here), the image loaded on
    the nodes, the source from the host, and one CPU each so the scheduler spreads them."""
    settings = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    settings["storage"] = {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    launcher = settings["run_launcher"]["config"]
    launcher.update(
        job_image=IMAGE,
        image_pull_policy="Never",
        job_namespace=namespace,
        load_incluster_config=kubeconfig is None,
    )
    if kubeconfig:
        launcher["kubeconfig_file"] = kubeconfig
    for volume in launcher["volumes"]:
        if volume["name"] == "recsys-source":
            volume.pop("persistentVolumeClaim")
            volume["hostPath"] = {"path": "/recsys-source-placeholder", "type": "Directory"}
    pod = launcher["run_k8s_config"]
    pod["pod_spec_config"]["host_network"] = True
    pod["container_config"]["resources"] = {"requests": {"cpu": "1"}}
    return yaml.safe_dump(settings)


def with_source(settings: str, source: Path) -> str:
    return settings.replace("/recsys-source-placeholder", str(source))


@contextlib.contextmanager
def cluster_namespace(api: k8s.CoreV1Api, name: str, instance: str, env: dict[str, str], secrets: dict):
    """A namespace with the objects deploy/README.md asks for: the `dagster` service account, the
    instance ConfigMap, the `recsys-env` ConfigMap and the `recsys-secrets` Secret."""
    api.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    try:
        api.create_namespaced_service_account(
            name, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name="dagster"))
        )
        for config_map, data in (("dagster-instance", {"dagster.yaml": instance}), ("recsys-env", env)):
            api.create_namespaced_config_map(
                name, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=config_map), data=data)
            )
        api.create_namespaced_secret(
            name, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="recsys-secrets"), string_data=secrets)
        )
        yield name
    finally:
        api.delete_namespace(name)


def node_of(api: k8s.CoreV1Api, namespace: str, run_id: str) -> str | None:
    """The node the pod of run `run_id` was scheduled on."""
    pods = api.list_namespaced_pod(namespace, label_selector=f"dagster/run-id={run_id}").items
    nodes = [pod.spec.node_name for pod in sorted(pods, key=lambda pod: pod.metadata.creation_timestamp)]
    return nodes[0] if nodes else None


def kill_node(node: str) -> None:
    """SIGKILL everything in the node's network namespace: its Docker daemon, kubelet and pods."""
    namespace = f"recsys-k{node.removeprefix('node')}"
    pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout
    for pid in pids.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def test_the_nightly_chain_and_a_cli_retrain_run_in_pods_on_two_kubernetes_nodes(
    postgres_database: str, s3_everywhere: tuple[int, str], small_rows: Path, tmp_path: Path, monkeypatch
):
    if not (KUBECONFIG and IMAGE):
        pytest.skip("no cluster: set RECSYS_TEST_KUBECONFIG and RECSYS_TEST_K8S_IMAGE (.ci/start-kubernetes)")
    port, bucket = s3_everywhere
    source = tmp_path / "source"
    source.mkdir()
    shutil.copyfile(small_rows, source / "playlist_rows.parquet")
    (source / "search_space.toml").write_text(SPACE + HYBRID)
    source.chmod(0o755)
    tmp_path.chmod(0o755)
    settings = {
        "RECSYS_STORAGE_URL": f"s3://{bucket}/recsys",
        "RECSYS_TIMEZONE": "UTC",
    }
    namespace = f"recsys-{uuid.uuid4().hex[:8]}"
    in_pods = postgres_database.replace("@localhost:", f"@{CONTROL_HOST}:")
    pod_env = {
        **settings,
        "RECSYS_DATA_DIR": "/data",
        "RECSYS_PLAYLISTS_PATH": "/source/playlist_rows.parquet",
        "RECSYS_SEARCH_SPACE": "/source/search_space.toml",
        "DAGSTER_PG_URL": in_pods,
        "RECSYS_STUDY_URL": in_pods,
        "AWS_ENDPOINT_URL": f"http://{CONTROL_HOST}:{port}",
        "AWS_DEFAULT_REGION": CREDENTIALS["AWS_DEFAULT_REGION"],
    }
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(with_source(instance_settings(namespace, KUBECONFIG), source))
    control = {
        **os.environ,
        **settings,
        **CREDENTIALS,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": postgres_database,
        "RECSYS_STUDY_URL": postgres_database,
        "RECSYS_DATA_DIR": str(tmp_path / "control_data"),
        "RECSYS_PLAYLISTS_PATH": str(source / "playlist_rows.parquet"),
        "RECSYS_SEARCH_SPACE": str(source / "search_space.toml"),
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "RECSYS_NIGHTLY_CRON": next_minute_cron(),
    }
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_database)
    k8s_config.load_kube_config(KUBECONFIG)
    api = k8s.CoreV1Api()
    log = tmp_path / "daemon.log"
    pods_instance = with_source(instance_settings(namespace, None), source)
    secrets = {name: CREDENTIALS[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    with cluster_namespace(api, namespace, pods_instance, pod_env, secrets), contextlib.ExitStack() as stack:
        daemon = start_daemon(control, log)
        stack.callback(stop, daemon, home)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            tested = lambda: latest_metadata(instance, "test_evaluation")  # noqa: E731
            wait_until(tested, CHAIN_TIMEOUT_SECONDS, "the chain", log)
            runs = instance.get_run_records()
            night = next(r.dagster_run for r in runs if r.dagster_run.job_name == "prepare_data")
            chain = [r for r in runs if r.dagster_run.tags.get(RETRAIN_TAG) == night.tags[RETRAIN_TAG]]
            assert {r.dagster_run.job_name for r in chain} == {
                "prepare_data",
                "train_models",
                "select_best_model",
            }
            nodes = {r.dagster_run.run_id: node_of(api, namespace, r.dagster_run.run_id) for r in chain}
            assert set(nodes.values()) <= {"node1", "node2"}, "every run in a pod on a worker node"
            assert {r.dagster_run.run_id: r.dagster_run.tags.get(WORKER_TAG) for r in chain} == nodes, (
                "each run names the node it ran on"
            )
            training = [r.dagster_run.run_id for r in chain if r.dagster_run.job_name == "train_models"]
            assert len(training) == 3 and {nodes[run_id] for run_id in training} == {"node1", "node2"}
            data = next(r for r in chain if r.dagster_run.job_name == "prepare_data")
            ended = max(r.end_time or 0 for r in chain)
            print(f"figures: nightly chain in pods {ended - data.start_time:.1f} s")
            nightly = latest_metadata(instance, "test_evaluation")

        began = time.monotonic()
        cli = run_retrain(control, "--force", timeout=CHAIN_TIMEOUT_SECONDS)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        print(f"figures: recsys-assets retrain in pods {time.monotonic() - began:.1f} s")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            from_cli = latest_metadata(instance, "test_evaluation")

        space = source / "with_a_long_config.toml"
        space.write_text(SPACE + LONG_CONFIG)
        retraining = start_retrain(control, space)
        stack.callback(lambda: retraining.poll() is None and retraining.kill())
        with dg.DagsterInstance.from_config(str(home)) as instance:

            def long_run_training() -> tuple[dg.DagsterRun, str] | None:
                for run in instance.get_runs(filters=dg.RunsFilter(job_name="train_models"), limit=5):
                    started = run.status == dg.DagsterRunStatus.STARTED and instance.all_logs(
                        run.run_id, of_type=dg.DagsterEventType.STEP_START
                    )
                    if run.tags.get("dagster/partition") == "long-word2vec" and started:
                        return run, node_of(api, namespace, run.run_id)
                return None

            doomed, node = wait_until(long_run_training, 600, "the long training run", log)
            kill_node(node)
            killed = time.monotonic()
            wait_until(
                lambda: instance.get_run_by_id(doomed.run_id).is_finished, 600, "the lost run to end", log
            )
            print(
                f"figures: the run on a killed node failed {time.monotonic() - killed:.1f} s after the kill"
            )
            assert instance.get_run_by_id(doomed.run_id).status == dg.DagsterRunStatus.FAILURE
        said, _ = retraining.communicate(timeout=CHAIN_TIMEOUT_SECONDS)
        print(said)
        assert retraining.returncode == 1, said
        assert f"train_models [long-word2vec]: failed on {node}" in said and "Best config: " in said, said

    local = Settings(
        playlists_path=source / "playlist_rows.parquet",
        data_dir=tmp_path / "local",
        search_space_path=source / "search_space.toml",
    )
    with dg.instance_for_test() as instance:
        alone = retrain(local, instance)
    for result in (nightly, from_cli):
        assert result["config_key"] == alone.config_key
        assert result["test_hit_rate"] == pytest.approx(alone.test_hit_rate, abs=5e-5)
