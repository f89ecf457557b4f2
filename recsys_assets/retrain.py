"""The retrain driver: register the configs, then run data, every config, best model and test
evaluation in one Dagster instance. The CLI and the tests call it."""

from __future__ import annotations

import logging
import sys
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from time import monotonic
from typing import Any

import dagster as dg

from recsys_assets.client import remove_old_versions
from recsys_assets.core.evaluation.reports import TestEvaluation
from recsys_assets.core.models.registry import FAMILIES
from recsys_assets.core.search.space import SearchPlan, SearchSpaceFile, read_search_space
from recsys_assets.core.search.study import finish, next_search_step, search_progress, trials_run
from recsys_assets.core.storage.processes import process_alive
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.changes import confirm_current, decide
from recsys_assets.graph.data import DEFAULT_SPLIT_SEED
from recsys_assets.graph.history import (
    DATA_VERSION_TAG,
    latest_data_build,
    latest_good_data_build,
    latest_materialization,
    trained_on,
)
from recsys_assets.graph.jobs import RETRAIN_TAG, prepare_data, select_best_model, train_models
from recsys_assets.graph.partitions import model_configs, sync_config_partitions
from recsys_assets.graph.plan import retrain_plan
from recsys_assets.graph.records import (
    CLI_DRIVER,
    DRIVER_TAG,
    SearchSpaceRecord,
    daemon_search_space,
    finish_cli_retrain,
    pinned_message,
    record_search_space,
    release_pin,
    start_cli_retrain,
)
from recsys_assets.graph.resources import SearchSpace
from recsys_assets.graph.runs import CodeLocationRuns, RunOutcome, RunSpec
from recsys_assets.instance import exclusive_lock
from recsys_assets.run_launcher import PID_TAG, run_process
from recsys_assets.settings import Settings

QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


class RetrainStopped(RuntimeError):
    """A stage of the retrain failed, or a data check did, so later stages did not run."""


class ConfigsFailed(RuntimeError):
    """Some configs failed to train; the best model was chosen among the others (`result`)."""

    def __init__(self, result: TestEvaluation, failed: list[str]):
        super().__init__(
            f"config(s) failed to train: {', '.join(failed)}; the best model was chosen among the"
            " others. Fix them, then `recsys-assets retrain --resume` trains only what is missing."
        )
        self.result = result
        self.failed = failed


def _checked(result: RunOutcome, label: str) -> None:
    """Print the failed warning checks of a run; RetrainStopped if it or a blocking check failed."""
    for name, blocking in result.failed_checks:
        if not blocking:
            print(f"   warning: check {name} failed", flush=True)
    blocking = [name for name, blocking in result.failed_checks if blocking]
    if blocking:
        raise RetrainStopped(f"data checks failed, so no model was trained: {', '.join(blocking)}")
    if not result.success:
        raise RetrainStopped(f"{label} failed: {'; '.join(result.errors)}")


def _run_job(runs: CodeLocationRuns, spec: RunSpec) -> None:
    """Make one run of the code location; RetrainStopped if it or a blocking check failed."""
    (result,) = runs.run([_quiet(spec)], say=_say)
    _checked(result, spec.label)


def _quiet(spec: RunSpec) -> RunSpec:
    return replace(spec, run_config={**QUIET_CONSOLE, **(spec.run_config or {})})


def _say(line: str) -> None:
    print(line, flush=True)


def _runs(defs: dg.Definitions, instance: dg.DagsterInstance, retrain_id: str) -> CodeLocationRuns:
    return CodeLocationRuns(defs, instance, tags={RETRAIN_TAG: retrain_id, DRIVER_TAG: CLI_DRIVER})


def fail_runs_of_dead_processes(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs still STARTED whose retrain process on this host is gone (killed);
    return their run ids."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        pid = run_process(instance, run) if PID_TAG in run.tags else None
        if pid is not None and not process_alive(pid):
            instance.report_run_failed(
                run,
                f"The process {pid} that ran this run is gone (killed); marked failed by a later retrain.",
            )
            failed.append(run.run_id)
    return failed


def retrain(
    settings: Settings,
    instance: dg.DagsterInstance,
    resume: bool = False,
    workers: int = 1,
    force: bool = False,
) -> TestEvaluation:
    """Register the search space's configs, then materialize data, every config, best model, test;
    return the test evaluation.

    When the source, the search space, the code and the storage are unchanged since the last
    complete retrain (and no search has trials left), nothing is trained: the last test
    evaluation is returned and the best model recorded as still current, unless `force`.
    A config that fails does not stop the others: the best model is chosen among those trained,
    and ConfigsFailed (carrying the result) names the failed ones. With `resume`, data already
    built and configs already trained on it are kept. `workers` is Word2Vec's thread count.
    """
    defs = build_definitions(settings)
    space = defs.resources["search_space"]
    with exclusive_lock(
        settings.data_dir / ".retrain.lock",
        f"Another retrain is using {settings.data_dir}; waiting for it to finish ...",
    ):
        for run_id in fail_runs_of_dead_processes(instance):
            print(f"Marked run {run_id} failed: the retrain that ran it was killed")
        read = read_search_space(Path(space.path))
        if read.plan:
            space.study(writable=True)
        released = release_pin(instance)
        if released:
            print(f"Unpinned: {pinned_message(released).split(':')[0]}.", flush=True)
        source = defs.resources["playlist_source"]
        models = defs.resources["model_store"]
        decision = decide(instance, source, space, models, DEFAULT_SPLIT_SEED, read.fingerprint)
        if not decision.needed and not force:
            print(decision.reason, flush=True)
            confirm_current(instance, decision)
            return _test_evaluation(defs, instance)
        if decision.test_only and not force:
            print(decision.reason, flush=True)
            test_only = RunSpec(select_best_model.name, assets=["test_evaluation"])
            _run_job(_runs(defs, instance, _new_retrain_id()), test_only)
            return _test_evaluation(defs, instance)
        print(decision.reason if decision.needed else "Retraining (--force): nothing changed.", flush=True)
        data_version = decision.inputs.data if decision.inputs else None
        return _retrain(defs, settings, instance, space, read, data_version, resume, workers)


def _new_retrain_id() -> str:
    """A new retrain's id, printed with the tag its runs carry."""
    retrain_id = uuid.uuid4().hex[:8]
    print(f"Retrain {retrain_id}: its runs carry the tag {RETRAIN_TAG}={retrain_id} (filter the runs by it)")
    return retrain_id


def _resumable_data_build(
    defs: dg.Definitions, instance: dg.DagsterInstance, data_version: str | None
) -> dg.EventLogRecord | None:
    """The last data build if --resume may keep it: its run succeeded with its baselines, it is
    of the source as it is now (`data_version`), and the tables and training files are its own
    (no later build was cut off between publishing and recording)."""
    data = latest_good_data_build(instance)
    if data is None or not trained_on(latest_materialization(instance, "baselines"), data):
        return None
    build = defs.resources["training_files"].current()
    if data_version is None or build is None:
        return None
    built = {
        data.asset_materialization.tags.get(DATA_VERSION_TAG),
        build.data_version,
        defs.resources["playlist_db"].built_data_version(),
    }
    return data if built == {data_version} else None


def _test_evaluation(defs: dg.Definitions, instance: dg.DagsterInstance) -> TestEvaluation:
    """The latest test evaluation's value, read without the loader's debug line on the console."""
    logging.disable(logging.DEBUG)
    try:
        with defs.get_asset_value_loader(instance=instance) as loader:
            return loader.load_asset_value("test_evaluation")
    finally:
        logging.disable(logging.NOTSET)


def _search(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    runs: CodeLocationRuns,
    space: SearchSpace,
    plan: SearchPlan,
    workers: int,
) -> None:
    """Propose, train and record trials until the plan's trial or time budget is spent. A trial
    whose config was already trained is recorded with that model's result instead of training
    again; a trial that fails is recorded as failed and its partition removed."""
    models = defs.resources["model_store"]
    study = space.searching_study(plan, models)
    started, since = monotonic(), datetime.now()
    print(f"-> search: up to {plan.trials or 'unlimited'} trials, {plan.time_budget_minutes or 'no'} minutes")
    while True:
        step = next_search_step(plan, search_progress(study, since, seconds_spent=monotonic() - started))
        if not step.propose:
            print(f"   {step.reason}", file=sys.stderr if "failed" in step.reason else sys.stdout)
            break
        proposed = space.propose_new(study, plan, models)
        if proposed is None:
            continue
        number, config = proposed
        instance.add_dynamic_partitions(model_configs.name, [config.key])
        try:
            _run_job(runs, RunSpec(train_models.name, config.key, _training_config(workers)))
        except RetrainStopped as error:
            print(f"   trial {number} failed: {error}", file=sys.stderr)
            finish(study, number, None)
            instance.delete_dynamic_partition(model_configs.name, config.key)
            continue
        result = models.summary(config.key)
        trained_epochs = max(result.learning_curve, default=0)
        planned_epochs = FAMILIES[result.family].epochs
        pruned = planned_epochs is not None and trained_epochs < planned_epochs(result.params)
        ending = f", stopped after {trained_epochs} epochs" if pruned else ""
        print(
            f"   trial {number} ({config.key}): validation hit rate {result.validation_hit_rate:.4f}{ending}"
        )
    spent = monotonic() - started
    print(f"   search: {trials_run(study)} trials in the study; {spent:.0f} s this retrain")
    published = space.publish_results(study)
    if published:
        print(f"   its trials: {published}")


def _training_config(workers: int) -> dict[str, Any]:
    return {"ops": {"embedding_model": {"config": {"workers": workers}}}}


def _retrain(
    defs: dg.Definitions,
    settings: Settings,
    instance: dg.DagsterInstance,
    space: SearchSpace,
    read: SearchSpaceFile,
    data_version: str | None,
    resume: bool,
    workers: int,
) -> TestEvaluation:
    configs = space.configs(read.configs)
    retrain_id = _new_retrain_id()
    start_cli_retrain(instance, retrain_id, space.path)
    try:
        return _drive(
            defs, settings, instance, space, read, configs, retrain_id, data_version, resume, workers
        )
    finally:
        finish_cli_retrain(instance, retrain_id)


def _say_which_search_space(
    instance: dg.DagsterInstance, space: SearchSpace, read: SearchSpaceFile, retrain_id: str
) -> None:
    """Record the search space this retrain read; say so when the daemon reads another."""
    record_search_space(
        instance, SearchSpaceRecord(space.path, read.fingerprint, f"{CLI_DRIVER} {retrain_id}", read.text)
    )
    daemon = daemon_search_space(instance)
    if daemon is not None and daemon.fingerprint != read.fingerprint:
        print(
            f"Note: the Dagster daemon reads another search space ({daemon.path}); its sensors follow"
            f" this retrain's configs until its nightly retrain switches back to its own.",
            flush=True,
        )


def _drive(
    defs: dg.Definitions,
    settings: Settings,
    instance: dg.DagsterInstance,
    space: SearchSpace,
    read: SearchSpaceFile,
    configs: list,
    retrain_id: str,
    data_version: str | None,
    resume: bool,
    workers: int,
) -> TestEvaluation:
    _say_which_search_space(instance, space, read, retrain_id)
    runs = _runs(defs, instance, retrain_id)
    added, removed = sync_config_partitions(instance, [config.key for config in configs])
    if added:
        print(f"Registered config partitions: {', '.join(added)}")
    if removed:
        print(f"Removed config partitions no longer in the search space: {', '.join(removed)}")

    data = _resumable_data_build(defs, instance, data_version) if resume else None
    if data:
        print(f"-> {prepare_data.name}: kept (--resume, the last build passed its checks)")
    else:
        if resume:
            print(
                "--resume: no data build of the source as it is now passed its checks; building it",
                flush=True,
            )
        _run_job(runs, RunSpec(prepare_data.name))
        data = latest_data_build(instance)
    keys = [config.key for config in configs]
    before = retrain_plan(instance, keys, data)
    if resume:
        for key in before.trained:
            print(f"-> {train_models.name} [{key}]: kept (--resume, trained on the current data)")
    to_train = [
        _quiet(RunSpec(train_models.name, key, _training_config(workers))) for key in before.untrained
    ]
    for spec, result in zip(to_train, runs.run(to_train, say=_say), strict=True):
        try:
            _checked(result, spec.label)
        except RetrainStopped as error:
            print(f"   {error}", file=sys.stderr)
    if read.plan:
        _search(defs, instance, runs, space, read.plan, workers)
    trained = retrain_plan(instance, keys, data)
    if not trained.ready_to_select and not read.plan:
        raise RetrainStopped(f"every config failed to train: {', '.join(trained.failed)}")
    selection = trained.selection_config(search_space_fingerprint=read.fingerprint)
    _run_job(runs, RunSpec(select_best_model.name, run_config=selection))
    result = _test_evaluation(defs, instance)
    removed = remove_old_versions(settings.keep_versions, instance, settings)
    if removed:
        print(f"Removed {len(removed)} old model version file(s), keeping {settings.keep_versions} per model")
    if trained.failed:
        raise ConfigsFailed(result, list(trained.failed))
    return result
