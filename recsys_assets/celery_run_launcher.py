"""dagster-celery's run launcher with a health check that notices a lost worker (deploy/celery/).

When a worker dies mid-run, the broker hands its unacknowledged task to another worker (acks
late). With run monitoring on, Dagster's run worker then ignores the run as a duplicate and the
task ends as a success, which dagster-celery reports as healthy: the run would stay STARTED for
ever. Here a task that ended while its run did not is a lost worker, and run monitoring fails the
run on its next poll.
"""

from __future__ import annotations

import warnings

import dagster as dg
from celery.exceptions import DuplicateTaskNameWarning
from dagster_celery.launcher import CeleryRunLauncher as DagsterCeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

from recsys_assets.dagster_internals import CheckRunHealthResult, WorkerStatus
from recsys_assets.graph.runs import WORKER_TAG

# dagster-celery declares its run task again at every launch; the first declaration is the one used.
warnings.filterwarnings("ignore", category=DuplicateTaskNameWarning, module="dagster_celery.launcher")


class CeleryRunLauncher(DagsterCeleryRunLauncher):
    """Runs each run as a Celery task; a run whose task ended before the run did is failed."""

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        health = super().check_run_worker_health(run)
        if health.status != WorkerStatus.SUCCESS:
            return health
        latest = self._instance.get_run_by_id(run.run_id)
        if latest is None or latest.is_finished:
            return health
        host = run.tags.get(WORKER_TAG, "unknown host")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the worker on {host} was lost mid-run: its Celery task ended but the run did not "
            "(the task was handed to another worker, which does not restart a started run)",
        )

    def get_run_worker_debug_info(
        self, run: dg.DagsterRun, include_container_logs: bool | None = True
    ) -> str:
        task = run.tags[DAGSTER_CELERY_TASK_ID_TAG]
        return f"Celery task {task}: {self.celery.AsyncResult(task).state}"
