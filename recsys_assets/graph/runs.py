"""Runs of the code location: every run is recorded with the `recsys_assets` code location as its
origin, so the UI lists it on its job's page and can re-execute it, and run-status sensors follow
it, whether `recsys-assets retrain`, `dg launch`, `dagster asset materialize`, the UI, the
schedule or a sensor started it.

Dagster's public API creates runs with an origin only from a loaded workspace (the webserver,
the daemon); the CLI's commands run jobs in their own process without one. The private imports
that fill the gap come from `dagster_internals.py`.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import dagster as dg

from recsys_assets.dagster_internals import (
    REPOSITORY_LABEL_TAG,
    InMemoryJob,
    InProcessCodeLocationOrigin,
    JobPythonOrigin,
    LoadableTargetOrigin,
    ReconstructableRepository,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
    execute_run,
)
from recsys_assets.run_launcher import HOST_TAG, PID_TAG

CODE_LOCATION = "recsys_assets"
"""The code location's name, as `workspace.yaml` and `[tool.dg.project]` give it."""
REPOSITORY = "__repository__"
"""The repository name Dagster gives the one `Definitions` of a code location."""
WORKER_TAG = "recsys/worker"
"""Tag naming the machine whose executor ran the run (shown on the runs page)."""
WORKER_NAME_VARIABLE = "RECSYS_WORKER_NAME"
"""The machine's name for WORKER_TAG where the host name does not tell machines apart (a
Kubernetes pod on the node's network has the node's host name: deploy/dagster.yaml sets the node's)."""
DEFINITIONS_MODULE = "recsys_assets.definitions"
DEFINITIONS_ATTRIBUTE = "defs"


@cache
def _repository_origins() -> tuple[RemoteRepositoryOrigin, ReconstructableRepository]:
    """The code location's repository as the UI and the sensors name it, and as a worker loads it."""
    working_directory = os.getcwd()
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name=DEFINITIONS_MODULE,
            attribute=DEFINITIONS_ATTRIBUTE,
            working_directory=working_directory,
        ),
        location_name=CODE_LOCATION,
    )
    loadable = ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, DEFINITIONS_ATTRIBUTE, working_directory=working_directory
    )
    return RemoteRepositoryOrigin(location, REPOSITORY), loadable


def job_origin(job_name: str) -> RemoteJobOrigin:
    """The origin of the code location's job `job_name`."""
    return RemoteJobOrigin(_repository_origins()[0], job_name)


def adopt(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Record `run`, which a command of Dagster's CLI started without an origin, as a run of the
    code location (nothing to do for a run that has an origin)."""
    if run.remote_job_origin is not None:
        return
    origin = job_origin(run.job_name)
    instance.add_run_tags(run.run_id, {REPOSITORY_LABEL_TAG: origin.repository_origin.get_label()})
    # `dagster run migrate-repository` rewrites a run's origin with this storage method.
    instance.run_storage.replace_job_origin(instance.get_run_by_id(run.run_id), origin)


class _CodeLocationExecutor(dg.Executor):
    """The in-process executor; before the first step it adopts its run into the code location and
    tags it with the host that executes it."""

    def __init__(self, inner: dg.Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan):
        adopt(plan_context.instance, plan_context.dagster_run)
        worker = os.environ.get(WORKER_NAME_VARIABLE) or socket.gethostname()
        plan_context.instance.add_run_tags(plan_context.run_id, {WORKER_TAG: worker})
        return self._inner.execute(plan_context, execution_plan)


@dg.executor(
    name="in_process",
    config_schema=dg.in_process_executor.config_schema,
    requirements=dg.in_process_executor.get_requirements,
)
def in_process_in_code_location(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Every job's executor: its steps one after another in the run's process (no process per
    step), the run recorded as one of the code location, with the host that executes it."""
    return _CodeLocationExecutor(dg.in_process_executor.executor_creation_fn(init_context))


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run did, read from the instance."""

    run_id: str
    success: bool
    errors: list[str] = field(default_factory=list)
    """The innermost error of each failed step (or of the run, when no step failed)."""
    failed_checks: list[tuple[str, bool]] = field(default_factory=list)
    """(asset: check, blocking) of each check that failed."""
    worker: str | None = None
    """The host that executed the run, when its launcher sent it elsewhere."""


def _innermost(error) -> str:
    while error.cause:
        error = error.cause
    return error.message.strip()


def outcome(instance: dg.DagsterInstance, run_id: str) -> RunOutcome:
    """The outcome of the finished run `run_id`."""
    run = instance.get_run_by_id(run_id)
    errors = [
        f"{record.dagster_event.step_key}: {_innermost(record.dagster_event.step_failure_data.error)}"
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    ]
    if not errors and run.status != dg.DagsterRunStatus.SUCCESS:
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
            data = record.dagster_event.event_specific_data
            errors.append(_innermost(data.error) if data and data.error else record.message)
    checks = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if not evaluation.passed:
            name = f"{evaluation.asset_key.to_user_string()}: {evaluation.check_name}"
            checks.append((name, evaluation.severity == dg.AssetCheckSeverity.ERROR))
    return RunOutcome(
        run_id, run.status == dg.DagsterRunStatus.SUCCESS, errors, checks, run.tags.get(WORKER_TAG)
    )


@dataclass(frozen=True)
class RunSpec:
    """One run to make: a job of the code location, for one partition or only some assets."""

    job: str
    partition_key: str | None = None
    run_config: Mapping | None = None
    assets: Sequence[str] | None = None

    @property
    def label(self) -> str:
        label = f"{self.job} [{self.partition_key}]" if self.partition_key else self.job
        return f"{label} ({', '.join(self.assets)} only)" if self.assets else label


def launches_on_workers(instance: dg.DagsterInstance) -> bool:
    """Whether the instance's run launcher sends runs to workers (Celery, Kubernetes) rather than
    to processes of this machine."""
    return not isinstance(instance.run_launcher, dg.DefaultRunLauncher)


def _create_run(
    defs: dg.Definitions, instance: dg.DagsterInstance, spec: RunSpec, tags: Mapping[str, str]
) -> dg.DagsterRun:
    job_def = defs.resolve_job_def(spec.job)
    asset_selection = frozenset(dg.AssetKey(asset) for asset in spec.assets) if spec.assets else None
    run_tags = {**job_def.run_tags, **tags}
    if spec.partition_key is not None:
        run_tags.update(
            job_def.get_tags_for_partition_key(spec.partition_key, selected_asset_keys=asset_selection)
        )
    return instance.create_run_for_job(
        job_def,
        run_config=spec.run_config or {},
        tags=run_tags,
        asset_selection=asset_selection,
        remote_job_origin=job_origin(spec.job),
        job_code_origin=JobPythonOrigin(spec.job, _repository_origins()[1].get_python_origin()),
    )


class CodeLocationRuns:
    """Makes runs of the code location for one driver (the retrain): in this process on a local
    instance (each run names this process, so run monitoring fails it if the process is killed),
    else launched through the instance's run launcher and followed until they end, their step
    messages printed as they arrive."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, tags: Mapping[str, str]):
        self.defs = defs
        self.instance = instance
        self.tags = dict(tags)
        self.on_workers = launches_on_workers(instance)

    def run(self, specs: Sequence[RunSpec], say=print) -> list[RunOutcome]:
        """Make each run of `specs` and wait for all; their outcomes in the same order."""
        if not self.on_workers:
            outcomes = []
            for spec in specs:
                say(f"-> {spec.label}")
                tags = {**self.tags, HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
                run = _create_run(self.defs, self.instance, spec, tags)
                started = time.perf_counter()
                execute_run(InMemoryJob(self.defs.resolve_job_def(spec.job)), run, self.instance)
                ended = outcome(self.instance, run.run_id)
                say(f"   {'done' if ended.success else 'failed'} in {time.perf_counter() - started:.1f} s")
                outcomes.append(ended)
            return outcomes
        runs = []
        for spec in specs:
            run = _create_run(self.defs, self.instance, spec, self.tags)
            self.instance.launch_run(run.run_id, workspace=None)
            say(f"-> {spec.label}: launched as run {run.run_id[:8]}")
            runs.append((run.run_id, spec))
        return self._follow(runs, say)

    def _follow(self, runs: list[tuple[str, RunSpec]], say) -> list[RunOutcome]:
        started = time.perf_counter()
        cursors: dict[str, str | None] = {run_id: None for run_id, _ in runs}
        outcomes: dict[str, RunOutcome] = {}
        while len(outcomes) < len(runs):
            for run_id, spec in runs:
                if run_id in outcomes:
                    continue
                finished = self.instance.get_run_by_id(run_id).is_finished
                page = self.instance.get_records_for_run(run_id, cursor=cursors[run_id])
                cursors[run_id] = page.cursor
                for record in page.records:
                    entry = record.event_log_entry
                    if entry.dagster_event is None and entry.level >= logging.INFO:
                        say(f"   {entry.step_key or spec.job}: {entry.user_message}")
                if finished:
                    ended = outcomes[run_id] = outcome(self.instance, run_id)
                    say(
                        f"   {spec.label}: {'done' if ended.success else 'failed'} on {ended.worker or '?'}"
                        f" after {time.perf_counter() - started:.1f} s"
                    )
            if len(outcomes) < len(runs):
                time.sleep(FOLLOW_SECONDS)
        return [outcomes[run_id] for run_id, _ in runs]


FOLLOW_SECONDS = 1.0
"""How often the runs launched on workers are polled for new messages and their end."""
