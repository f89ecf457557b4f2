"""The Dagster internals the project needs and Dagster 1.13 has no public import path for, in one
place: the result types of a run launcher's health check (run monitoring), and what it takes to
create and execute a run with a code-location origin outside a loaded workspace (`graph/runs.py`:
the CLI's runs show on their job's page like the UI's)."""

from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import execute_run
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.origin import JobPythonOrigin
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

__all__ = [
    "REPOSITORY_LABEL_TAG",
    "CheckRunHealthResult",
    "InMemoryJob",
    "InProcessCodeLocationOrigin",
    "JobPythonOrigin",
    "LoadableTargetOrigin",
    "ReconstructableRepository",
    "RemoteJobOrigin",
    "RemoteRepositoryOrigin",
    "WorkerStatus",
    "execute_run",
]
