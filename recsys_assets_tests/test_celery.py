"""The same retrain on real workers: two Celery run workers, each an isolated host (its own network,
process and mount namespaces, a private /tmp, no view of the control host's data folder), sharing
only Postgres, the RabbitMQ broker and an S3 server with the control host, where the daemon runs
the nightly chain, then a CLI retrain whose runs go through the same launcher. Every run executes
on a worker, both take part, and the result equals a single-machine retrain.

Needs root, `ip`, `nsenter` and `unshare`, RECSYS_TEST_POSTGRES_URL (`.ci/start-postgres`) and
RECSYS_TEST_BROKER_URL (`.ci/start-rabbitmq`); skipped without them, as outside CI.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import dagster as dg
import pytest
import yaml
from moto.server import ThreadedMotoServer

from recsys_assets.graph.history import latest_metadata
from recsys_assets.graph.jobs import RETRAIN_TAG
from recsys_assets.graph.runs import WORKER_TAG
from recsys_assets.retrain import retrain
from recsys_assets.settings import Settings
from recsys_assets_tests.processes import (
    REPO,
    next_minute_cron,
    run_retrain,
    start,
    start_daemon,
    start_retrain,
    stop,
    wait_until,
)
from recsys_assets_tests.test_daemon import postgres_database
from recsys_assets_tests.test_object_storage import CREDENTIALS

__all__ = ["postgres_database"]

pytestmark = pytest.mark.slow

CELERY_SETTINGS = REPO / "deploy" / "celery"
BROKER_URL = os.environ.get("RECSYS_TEST_BROKER_URL")
CHAIN_TIMEOUT_SECONDS = 600
SPACE = """
[[config]]
model = "rules"
steps = 3

[[config]]
model = "session_knn"
k = 50
"""
HYBRID = """
[[config]]
model = "hybrid"
rules_steps = 3
"""


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextlib.contextmanager
def isolated_host(index: int) -> Iterator[tuple[str, str]]:
    """A network namespace joined to this host by a veth pair; yields (namespace, this host's address)."""
    namespace, here, there = f"recsys-w{index}", f"10.213.{index}.1", f"10.213.{index}.2"
    outside, inside = f"rcsw{index}h", f"rcsw{index}w"
    with contextlib.suppress(subprocess.CalledProcessError):
        _ip("netns", "del", namespace)
    with contextlib.suppress(subprocess.CalledProcessError):
        _ip("link", "del", outside)
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("addr", "add", f"{here}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        for command in (
            ["addr", "add", f"{there}/30", "dev", inside],
            ["link", "set", inside, "up"],
            ["link", "set", "lo", "up"],
        ):
            _ip("netns", "exec", namespace, "ip", *command)
        yield namespace, here
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", outside)
        _ip("netns", "del", namespace)


WORKER_SCRIPT = """
set -e
mkdir -p "$STAGE" && mount --bind "$SOURCE_DIR" "$STAGE"
mount -t tmpfs tmpfs /tmp
mkdir -p "$SOURCE_DIR" "$DAGSTER_HOME" && mount --bind "$STAGE" "$SOURCE_DIR"
mount -o remount,bind,ro "$SOURCE_DIR"
hostname "$WORKER_NAME"
printf '%s' "$INSTANCE_YAML" > "$DAGSTER_HOME/dagster.yaml"
exec "$PYTHON" -m celery -A dagster_celery.app worker --pool solo --concurrency 1 --queues dagster \
  --hostname "$WORKER_NAME@$WORKER_NAME" --loglevel INFO
"""


def start_worker(name: str, namespace: str, env: dict[str, str], log: Path) -> Worker:
    isolated = ["nsenter", f"--net=/var/run/netns/{namespace}", "unshare", "--mount", "--uts", "--pid"]
    command = [*isolated, "--fork", "--mount-proc", "sh", "-c", WORKER_SCRIPT]
    return Worker(name, start(command, {**env, "WORKER_NAME": name, "PYTHON": sys.executable}, log), log)


def ready(worker: Worker) -> bool:
    assert worker.process.poll() is None, f"worker {worker.name} exited:\n{worker.log.read_text()[-3000:]}"
    return "ready." in worker.log.read_text()


def instance_settings(dequeue_seconds: int = 2) -> str:
    settings = yaml.safe_load((CELERY_SETTINGS / "dagster.yaml").read_text())
    settings["run_queue"]["dequeue_interval_seconds"] = dequeue_seconds
    settings["run_monitoring"]["poll_interval_seconds"] = 5
    return yaml.safe_dump(settings)


@pytest.fixture
def s3_everywhere() -> Iterator[tuple[int, str]]:
    """An S3 server listening on every address of this host (the workers reach it over their veth);
    yields its port and a new bucket."""
    server = ThreadedMotoServer(ip_address="0.0.0.0", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    bucket = f"recsys-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", **_boto_credentials()).create_bucket(
        Bucket=bucket
    )
    try:
        yield port, bucket
    finally:
        server.stop()


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def test_the_nightly_chain_and_a_cli_retrain_spread_their_configs_over_two_celery_workers(
    postgres_database: str, s3_everywhere: tuple[int, str], small_rows: Path, tmp_path: Path, monkeypatch
):
    if not BROKER_URL:
        pytest.skip("no RabbitMQ: set RECSYS_TEST_BROKER_URL (.ci/start-rabbitmq prints one)")
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("ip", "nsenter", "unshare")):
        pytest.skip("isolated worker hosts need root, ip, nsenter and unshare")
    port, bucket = s3_everywhere
    source = tmp_path / "source"
    source.mkdir()
    rows = source / "playlist_rows.parquet"
    shutil.copyfile(small_rows, rows)
    (source / "search_space.toml").write_text(SPACE + HYBRID)
    data_dir = f"/tmp/recsys-celery-{uuid.uuid4().hex[:8]}/data"
    shared = {
        "RECSYS_DATA_DIR": data_dir,
        "RECSYS_PLAYLISTS_PATH": str(rows),
        "RECSYS_SEARCH_SPACE": str(source / "search_space.toml"),
        "RECSYS_STORAGE_URL": f"s3://{bucket}/recsys",
        "RECSYS_TIMEZONE": "UTC",
        **CREDENTIALS,
    }

    def reached_at(url: str, address: str) -> str:
        return url.replace("@localhost:", f"@{address}:")

    monkeypatch.setenv("DAGSTER_PG_URL", postgres_database)
    monkeypatch.setenv("RECSYS_CELERY_BROKER_URL", BROKER_URL)
    monkeypatch.setenv("RECSYS_CELERY_BACKEND_URL", f"db+{postgres_database}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_settings())
    control = {
        **os.environ,
        **shared,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": postgres_database,
        "RECSYS_STUDY_URL": postgres_database,
        "RECSYS_CELERY_BROKER_URL": BROKER_URL,
        "RECSYS_CELERY_BACKEND_URL": f"db+{postgres_database}",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "RECSYS_NIGHTLY_CRON": next_minute_cron(),
    }
    logs = [tmp_path / "daemon.log", tmp_path / "w1.log", tmp_path / "w2.log"]
    with contextlib.ExitStack() as stack:
        began = time.monotonic()
        workers = []
        for index, name in ((1, "w1"), (2, "w2")):
            namespace, here = stack.enter_context(isolated_host(index))
            env = {
                "PATH": os.environ["PATH"],
                "PYTHONPATH": f"{CELERY_SETTINGS}:{REPO}",
                **shared,
                "DAGSTER_HOME": "/tmp/dagster_home",
                "DAGSTER_PG_URL": reached_at(postgres_database, here),
                "RECSYS_STUDY_URL": reached_at(postgres_database, here),
                "RECSYS_CELERY_BROKER_URL": reached_at(BROKER_URL, here),
                "RECSYS_CELERY_BACKEND_URL": f"db+{reached_at(postgres_database, here)}",
                "AWS_ENDPOINT_URL": f"http://{here}:{port}",
                "INSTANCE_YAML": instance_settings(),
                "SOURCE_DIR": str(source),
                "STAGE": f"/mnt/recsys-source-{name}-{uuid.uuid4().hex[:6]}",
            }
            worker = start_worker(name, namespace, env, tmp_path / f"{name}.log")
            stack.callback(stop, worker.process)
            workers.append(worker)
        wait_until(lambda: all(ready(worker) for worker in workers), 120, "the workers", *logs)
        print(f"figures: two isolated workers ready in {time.monotonic() - began:.1f} s")

        daemon = start_daemon(control, logs[0])
        stack.callback(stop, daemon, home)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            wait_until(
                lambda: latest_metadata(instance, "test_evaluation"),
                CHAIN_TIMEOUT_SECONDS,
                "the chain",
                *logs,
            )
            runs = instance.get_run_records()
            night = next(r.dagster_run for r in runs if r.dagster_run.job_name == "prepare_data")
            chain = [r for r in runs if r.dagster_run.tags.get(RETRAIN_TAG) == night.tags[RETRAIN_TAG]]
            jobs = {r.dagster_run.job_name for r in chain}
            assert jobs == {"prepare_data", "train_models", "select_best_model"}
            workers_used = {r.dagster_run.tags.get(WORKER_TAG) for r in chain}
            assert workers_used <= {"w1", "w2"}, "every run on a worker"
            training = [r for r in chain if r.dagster_run.job_name == "train_models"]
            assert len(training) == 3 and all(
                r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in training
            )
            assert {r.dagster_run.tags.get(WORKER_TAG) for r in training} == {"w1", "w2"}, "both took part"
            data = next(r for r in chain if r.dagster_run.job_name == "prepare_data")
            ended = max(r.end_time or 0 for r in chain)
            print(f"figures: nightly chain {ended - data.start_time:.1f} s from data to test")
            nightly = latest_metadata(instance, "test_evaluation")

        began = time.monotonic()
        cli = run_retrain(control, "--force", timeout=CHAIN_TIMEOUT_SECONDS)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        retrain_id = cli.stdout.split("Retrain ", 1)[1].split(":", 1)[0]
        print(f"figures: recsys-assets retrain on the workers {time.monotonic() - began:.1f} s")
        print(cli.stdout)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            mine = instance.get_runs(filters=dg.RunsFilter(tags={RETRAIN_TAG: retrain_id}))
            assert len(mine) == 5 and {run.tags[WORKER_TAG] for run in mine} == {"w1", "w2"}
            from_cli = latest_metadata(instance, "test_evaluation")

        lost_worker_fails_its_run(control, source, workers, home, logs)

    local = Settings(
        playlists_path=rows, data_dir=tmp_path / "local", search_space_path=source / "search_space.toml"
    )
    began = time.monotonic()
    with dg.instance_for_test() as instance:
        alone = retrain(local, instance)
    print(f"figures: the same retrain in one process {time.monotonic() - began:.1f} s")
    for result in (nightly, from_cli):
        assert result["config_key"] == alone.config_key
        assert result["test_hit_rate"] == pytest.approx(alone.test_hit_rate, abs=5e-5)


def lost_worker_fails_its_run(
    control: dict[str, str], source: Path, workers: list[Worker], home: Path, logs: list[Path]
) -> None:
    """Kill the worker running a long training run: run monitoring fails the run, naming the worker,
    and the CLI retrain that launched it names the config and chooses among the others."""
    space = source / "with_a_long_config.toml"
    space.write_text(SPACE + LONG_CONFIG)
    retraining = start_retrain(control, space)
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:

            def long_run_on_a_worker() -> dg.DagsterRun | None:
                runs = instance.get_runs(filters=dg.RunsFilter(job_name="train_models"), limit=5)
                return next(
                    (
                        run
                        for run in runs
                        if run.tags.get("dagster/partition") == "long-word2vec"
                        and run.status == dg.DagsterRunStatus.STARTED
                        and run.tags.get(WORKER_TAG)
                    ),
                    None,
                )

            doomed = wait_until(long_run_on_a_worker, 300, "the long training run", *logs)
            host = doomed.tags[WORKER_TAG]
            os.killpg(next(w for w in workers if w.name == host).process.pid, signal.SIGKILL)
            killed = time.monotonic()
            wait_until(
                lambda: instance.get_run_by_id(doomed.run_id).is_finished, 120, "the lost run to end", *logs
            )
            print(
                f"figures: the run of a killed worker failed {time.monotonic() - killed:.1f} s after the kill"
            )
            assert instance.get_run_by_id(doomed.run_id).status == dg.DagsterRunStatus.FAILURE
        said, _ = retraining.communicate(timeout=CHAIN_TIMEOUT_SECONDS)
    finally:
        if retraining.poll() is None:
            retraining.kill()
    print(said)
    assert retraining.returncode == 1, said
    assert "long-word2vec" in said and f"the worker on {host} was lost" in said, said
    assert "Best config: " in said, "chosen among the configs that trained"


LONG_CONFIG = """
[[config]]
name = "long-word2vec"
epochs = 500
"""
