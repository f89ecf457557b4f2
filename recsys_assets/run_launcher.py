"""A run launcher for one machine whose runs Dagster's run monitoring can check: a run whose
process died (killed, out of memory) is marked failed instead of staying STARTED for ever."""

from __future__ import annotations

import socket

import dagster as dg

from recsys_assets.core.storage.processes import process_alive
from recsys_assets.dagster_internals import CheckRunHealthResult, WorkerStatus

HOST_TAG = ".dagster/recsys_host"
PID_TAG = ".dagster/recsys_pid"
"""Tags naming the process that runs a run in-process (`recsys-assets retrain`), so a run left
behind by a killed retrain can be told from one still running. Their prefix is the one Dagster's
UI hides: they are for this check, not for people reading the runs list."""


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The id of the process on this machine that runs `run`, if known: the retrain's tags for an
    in-process run, else the pid its run worker reported when it started."""
    if PID_TAG in run.tags:
        same_host = run.tags.get(HOST_TAG) == socket.gethostname()
        return int(run.tags[PID_TAG]) if same_host and run.tags[PID_TAG].isdigit() else None
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event and event.engine_event_data else None
        if pid is not None and str(pid.value).isdigit():
            return int(pid.value)
    return None


class LocalProcessRunLauncher(dg.DefaultRunLauncher):
    """Dagster's default launcher (runs in processes of the code server on this machine) that also
    tells run monitoring whether a run's process is still alive."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        pid = run_process(self._instance, run)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "its process is not known yet")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"process {pid} is running")
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"process {pid} that ran it is gone (killed or out of memory)"
        )
