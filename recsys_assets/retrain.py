"""The retrain driver: register the configs, then run data, every config, best model and test
evaluation in one Dagster instance. The CLI and the tests call it."""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any

import dagster as dg

from recsys_assets.core.search_space import ModelConfig, load_search_space
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.history import (
    latest_data_build,
    latest_good_data_build,
    latest_materialization,
    trained_on,
)
from recsys_assets.graph.jobs import prepare_data, select_best_model, train_models
from recsys_assets.graph.partitions import sync_config_partitions
from recsys_assets.instance import exclusive_lock
from recsys_assets.settings import Settings

QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
HOST_TAG = "recsys/host"
PID_TAG = "recsys/pid"
"""Tags naming the process that runs a retrain's jobs, so a run it left behind when killed can
be told from one still running."""


class RetrainStopped(RuntimeError):
    """A stage of the retrain failed, or a data check did, so later stages did not run."""


class ConfigsFailed(RuntimeError):
    """Some configs failed to train; the best model was chosen among the others (`result`)."""

    def __init__(self, result: dict[str, Any], failed: list[str]):
        super().__init__(
            f"config(s) failed to train: {', '.join(failed)}; the best model was chosen among the"
            " others. Fix them, then `recsys-assets retrain --resume` trains only what is missing."
        )
        self.result = result
        self.failed = failed


def _step_errors(result: dg.ExecuteInProcessResult) -> list[str]:
    """The innermost error message of each failed step."""
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error.cause:
            error = error.cause
        messages.append(f"{event.step_key}: {error.message.strip()}")
    return messages


def _run_job(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job: str,
    partition_key: str | None = None,
    run_config: dict | None = None,
) -> None:
    """Run one job in-process, printing its progress and failed warning checks; RetrainStopped if
    it or a blocking check failed."""
    label = f"{job} [{partition_key}]" if partition_key else job
    print(f"-> {label}", flush=True)
    started = time.perf_counter()
    result = defs.resolve_job_def(job).execute_in_process(
        run_config={**QUIET_CONSOLE, **(run_config or {})},
        instance=instance,
        partition_key=partition_key,
        raise_on_error=False,
        tags={HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())},
    )
    failed_checks = []
    for check in result.get_asset_check_evaluations():
        if check.passed:
            continue
        name = f"{check.asset_key.to_user_string()}: {check.check_name}"
        if check.severity == dg.AssetCheckSeverity.WARN:
            print(f"   warning: check {name} failed", flush=True)
        else:
            failed_checks.append(name)
    if failed_checks:
        raise RetrainStopped(f"data checks failed, so no model was trained: {', '.join(failed_checks)}")
    if not result.success:
        raise RetrainStopped(f"{label} failed: {'; '.join(_step_errors(result))}")
    print(f"   done in {time.perf_counter() - started:.1f} s", flush=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_runs_of_dead_processes(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs still STARTED whose retrain process on this host is gone (killed);
    return their run ids."""
    host = socket.gethostname()
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        pid = run.tags.get(PID_TAG, "")
        if run.tags.get(HOST_TAG) == host and pid.isdigit() and not _process_alive(int(pid)):
            instance.report_run_failed(
                run,
                f"The process {pid} that ran this run is gone (killed); marked failed by a later retrain.",
            )
            failed.append(run.run_id)
    return failed


def retrain(
    settings: Settings, instance: dg.DagsterInstance, resume: bool = False, workers: int = 1
) -> dict[str, Any]:
    """Register the search space's configs, then materialize data, every config, best model, test;
    return the test evaluation.

    A config that fails does not stop the others: the best model is chosen among those trained,
    and ConfigsFailed (carrying the result) names the failed ones. With `resume`, data already
    built and configs already trained on it are kept. `workers` is Word2Vec's thread count.
    """
    configs = load_search_space(settings.search_space_path)
    with exclusive_lock(
        settings.data_dir / ".retrain.lock",
        f"Another retrain is using {settings.data_dir}; waiting for it to finish ...",
    ):
        return _retrain(settings, instance, configs, resume, workers)


def _retrain(
    settings: Settings, instance: dg.DagsterInstance, configs: list[ModelConfig], resume: bool, workers: int
) -> dict[str, Any]:
    defs = build_definitions(settings)
    for run_id in fail_runs_of_dead_processes(instance):
        print(f"Marked run {run_id} failed: the retrain that ran it was killed")
    added, removed = sync_config_partitions(instance, [config.key for config in configs])
    if added:
        print(f"Registered config partitions: {', '.join(added)}")
    if removed:
        print(f"Removed config partitions no longer in the search space: {', '.join(removed)}")

    data = latest_good_data_build(instance) if resume else None
    if data:
        print(f"-> {prepare_data.name}: kept (--resume, the last build passed its checks)")
    else:
        _run_job(defs, instance, prepare_data.name)
        data = latest_data_build(instance)
    failures = []
    for config in configs:
        if resume and trained_on(latest_materialization(instance, "embedding_model", config.key), data):
            print(f"-> {train_models.name} [{config.key}]: kept (--resume, trained on the current data)")
            continue
        try:
            _run_job(
                defs,
                instance,
                train_models.name,
                config.key,
                {"ops": {"embedding_model": {"config": {"workers": workers}}}},
            )
        except RetrainStopped as error:
            print(f"   {error}", file=sys.stderr)
            failures.append(config.key)
    if len(failures) == len(configs):
        raise RetrainStopped(f"every config failed to train: {', '.join(failures)}")
    _run_job(
        defs,
        instance,
        select_best_model.name,
        run_config={"ops": {"best_model": {"config": {"require_all_configs": not failures}}}},
    )
    with defs.get_asset_value_loader(instance=instance) as loader:
        result = loader.load_asset_value("test_evaluation")
    if failures:
        raise ConfigsFailed(result, failures)
    return result
