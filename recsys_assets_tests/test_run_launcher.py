"""Run monitoring with the packaged launcher: a run whose process died is marked failed, a run
whose process lives (or is not known yet) is left alone. Driven through Dagster's own monitor."""

import logging
import os
import socket
import subprocess
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster._daemon.monitoring.run_monitoring import monitor_started_run

from recsys_assets.core.storage.processes import process_alive
from recsys_assets.run_launcher import HOST_TAG, PID_TAG, LocalProcessRunLauncher


@dg.op
def nothing() -> None:
    pass


@dg.job
def some_job() -> None:
    nothing()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    launcher = {"module": "recsys_assets.run_launcher", "class": "LocalProcessRunLauncher"}
    overrides = {"run_launcher": launcher, "run_monitoring": {"enabled": True, "max_resume_run_attempts": 0}}
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


def killed_process(reaped: bool = True) -> int:
    """The pid of a process that was killed; without `reaped` it stays a zombie."""
    process = subprocess.Popen(["sleep", "60"])
    process.kill()
    if reaped:
        process.wait()
    else:
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    return process.pid


def monitored(instance: dg.DagsterInstance, tags: dict[str, str], worker_pid: int | None = None):
    """Start a run (its worker reporting `worker_pid`), let run monitoring look at it once, and
    return it as it is afterwards."""
    run = instance.create_run_for_job(some_job, tags=tags)
    instance.report_dagster_event(
        DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name=run.job_name), run.run_id
    )
    if worker_pid is not None:
        instance.report_engine_event("Started process for run", run, EngineEventData.in_process(worker_pid))
    monitor_started_run(instance, None, instance.get_run_record_by_id(run.run_id), logging.getLogger())
    return instance.get_run_by_id(run.run_id)


def failure_message(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return failure.dagster_event.message


def test_the_packaged_launcher_is_the_one_monitoring_asks(instance: dg.DagsterInstance):
    assert isinstance(instance.run_launcher, LocalProcessRunLauncher)
    assert instance.run_launcher.supports_check_run_worker_health


def test_a_run_whose_worker_was_killed_is_marked_failed(instance: dg.DagsterInstance):
    pid = killed_process()
    run = monitored(instance, {}, worker_pid=pid)
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert f"process {pid} that ran it is gone" in failure_message(instance, run)


def test_a_run_of_a_killed_retrain_is_marked_failed(instance: dg.DagsterInstance):
    pid = killed_process(reaped=False)
    assert not process_alive(pid), "a zombie is gone"
    run = monitored(instance, {HOST_TAG: socket.gethostname(), PID_TAG: str(pid)})
    assert run.status == dg.DagsterRunStatus.FAILURE


@pytest.mark.parametrize(
    "tags, worker",
    [
        ({HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}, None),
        ({}, os.getpid()),
        ({}, None),
        ({HOST_TAG: "another-machine", PID_TAG: "1"}, None),
    ],
    ids=["retrain alive", "worker alive", "process not known yet", "another machine"],
)
def test_a_run_whose_process_lives_or_is_unknown_is_left_alone(
    instance: dg.DagsterInstance, tags: dict[str, str], worker: int | None
):
    assert monitored(instance, tags, worker_pid=worker).status == dg.DagsterRunStatus.STARTED
