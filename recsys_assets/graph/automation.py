"""Schedules and sensors: the nightly retrain in order, and configs registered from the file."""

import time
import warnings
from datetime import datetime

import dagster as dg
from optuna.trial import TrialState

from recsys_assets.core.models.parameters import ConfigError
from recsys_assets.core.search.space import partition_changes
from recsys_assets.core.search.study import finish, next_search_step, search_progress
from recsys_assets.graph.changes import confirm_current, decide
from recsys_assets.graph.checks import best_model_freshness
from recsys_assets.graph.data import DEFAULT_SPLIT_SEED
from recsys_assets.graph.history import (
    latest_data_build,
    latest_materialization,
    training_failed_since,
)
from recsys_assets.graph.jobs import (
    RETRAIN_TAG,
    TRAINING_RUNS_AT_ONCE,
    prepare_data,
    select_best_model,
    train_models,
)
from recsys_assets.graph.partitions import model_configs
from recsys_assets.graph.plan import retrain_plan
from recsys_assets.graph.records import (
    CLI_DRIVER,
    DRIVER_TAG,
    SearchSpaceRecord,
    announce_daemon_search_space,
    cli_retrain,
    pin,
    pinned_message,
    record_search_space,
    recorded_search_space,
)
from recsys_assets.graph.resources import ModelStore, PlaylistSource, SearchSpace
from recsys_assets.settings import NIGHTLY_CRON


def nightly_retrain_schedule(timezone: str, cron: str = NIGHTLY_CRON) -> dg.ScheduleDefinition:
    """At `cron` (02:00 by default) in `timezone`, rebuild the data; the sensors below train and
    select after it."""

    @dg.schedule(
        name="nightly_retrain",
        cron_schedule=cron,
        execution_timezone=timezone,
        job=prepare_data,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Nightly retrain: data first, then every config (train_after_data), then the"
        " best model and its test evaluation (select_after_training). Every run of one night"
        f" carries the tag {RETRAIN_TAG}=nightly-<date>-<time>. Its time is RECSYS_NIGHTLY_CRON."
        " When the source, the search space, the code and the storage settings are unchanged since"
        " the last retrain, it skips, saying so, and records that the best model is still current.",
    )
    def nightly_retrain(
        context: dg.ScheduleEvaluationContext,
        playlist_source: PlaylistSource,
        search_space: SearchSpace,
        model_store: ModelStore,
    ):
        retrain = cli_retrain(context.instance)
        if retrain is not None and retrain.running():
            return dg.SkipReason(f"{CLI_DRIVER} {retrain.retrain_id} is running; the nightly retrain waits")
        decision = decide(context.instance, playlist_source, search_space, model_store, DEFAULT_SPLIT_SEED)
        if not decision.needed:
            confirm_current(context.instance, decision)
            return dg.SkipReason(decision.reason)
        context.log.info(decision.reason)
        night = f"nightly-{context.scheduled_execution_time.strftime('%Y-%m-%d-%H%M')}"
        try:
            read = search_space.read()
        except ConfigError as error:
            return dg.SkipReason(f"search space not usable, nothing retrained: {error}")
        record_search_space(
            context.instance,
            SearchSpaceRecord(search_space.path, read.fingerprint, f"nightly_retrain {night}", read.text),
        )
        return dg.RunRequest(run_key=night, tags={RETRAIN_TAG: night})

    return nightly_retrain


def _chain_tags(data_run: dg.DagsterRun) -> dict[str, str]:
    """The retrain tag of the runs a sensor requests after `data_run`: the data run's own (a
    nightly retrain's), else one of their own named after it (`dg launch --job prepare_data`, the UI)."""
    return {RETRAIN_TAG: data_run.tags.get(RETRAIN_TAG) or f"after-{data_run.run_id[:8]}"}


def _driven_by_the_cli(run: dg.DagsterRun) -> str | None:
    """Why the sensors leave the chain after `run` alone, when a `recsys-assets retrain` drives it."""
    if run.tags.get(DRIVER_TAG) != CLI_DRIVER:
        return None
    return f"{CLI_DRIVER} {run.tags.get(RETRAIN_TAG, '')} drives the runs after this data build itself"


def _follows_the_daemons_file(instance: dg.DagsterInstance, search_space: SearchSpace) -> bool:
    """Whether the config partitions follow this daemon's own search-space file (else the file
    the latest `recsys-assets retrain` read, recorded in the instance)."""
    recorded = recorded_search_space(instance)
    return recorded is None or not recorded.by_the_cli or recorded.fingerprint == search_space.fingerprint()


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[prepare_data],
    request_job=train_models,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After prepare_data succeeds, start one train_models run per config not yet"
    " trained on the new data (once per data build; the retrain plan recsys-assets retrain follows"
    " too), registering configs of the search space not yet registered.",
)
def train_after_data(context: dg.RunStatusSensorContext, search_space: SearchSpace):
    """One training run request per config the retrain plan has untrained on this data build: the
    registered configs and new ones of the daemon's search space, when the partitions follow it."""
    run_id = context.dagster_run.run_id
    driven = _driven_by_the_cli(context.dagster_run)
    if driven:
        return dg.SkipReason(driven)
    registered = context.instance.get_dynamic_partitions(model_configs.name)
    try:
        new = (
            [config.key for config in search_space.configs() if config.key not in set(registered)]
            if _follows_the_daemons_file(context.instance, search_space)
            else []
        )
    except (ConfigError, OSError) as error:
        context.log.warning(f"search space not usable, training the registered configs: {error}")
        new = []
    data = latest_data_build(context.instance)
    if data is None or data.run_id != run_id:
        return dg.SkipReason(f"run {run_id[:8]} built no splits newer than the latest data build")
    tags = _chain_tags(context.dagster_run)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"{run_id}:{key}", partition_key=key, tags=tags)
            for key in retrain_plan(context.instance, [*registered, *new], data).untrained
        ],
        dynamic_partitions_requests=[model_configs.build_add_request(new)] if new else [],
    )


@dg.sensor(
    job=select_best_model,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Once every registered config is trained on the latest prepare_data build, run"
    " select_best_model (best model, then test evaluation), once per build and again when newer"
    " models arrive. Configs whose training failed are left out and named in the metadata.",
)
def select_after_training(context: dg.SensorEvaluationContext):
    """A selection run request when the latest data build's models are all in."""
    pinned = pin(context.instance)
    if pinned is not None:
        return dg.SkipReason(pinned_message(pinned))
    data = latest_data_build(context.instance)
    keys = context.instance.get_dynamic_partitions(model_configs.name)
    if data is None or not keys:
        return dg.SkipReason("no data build or no registered config yet")
    data_run = context.instance.get_run_by_id(data.run_id)
    if data_run.job_name != prepare_data.name:
        return dg.SkipReason("the latest data was built outside prepare_data; that run selects itself")
    driven = _driven_by_the_cli(data_run)
    if driven:
        return dg.SkipReason(driven)
    plan = retrain_plan(context.instance, keys, data)
    if plan.waiting:
        return dg.SkipReason(f"waiting for configs trained on the latest data: {', '.join(plan.waiting)}")
    if not plan.ready_to_select:
        return dg.SkipReason(f"every config failed to train on the latest data: {', '.join(plan.failed)}")
    built = datetime.fromtimestamp(data.timestamp).isoformat()
    if plan.failed:
        return dg.RunRequest(
            run_key=f"select-after-data-{built}-without-{'+'.join(plan.failed)}",
            run_config=plan.selection_config(),
            tags={"recsys/configs_failed": ",".join(plan.failed), **_chain_tags(data_run)},
        )
    models = [latest_materialization(context.instance, "embedding_model", key) for key in keys]
    selected = latest_materialization(context.instance, "best_model")
    if selected is not None and selected.timestamp >= max(model.timestamp for model in models):
        return dg.SkipReason("the best model is already selected from the latest models")
    return dg.RunRequest(
        run_key=f"select-after-data-{built}", run_config=plan.selection_config(), tags=_chain_tags(data_run)
    )


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keep the config partitions equal to the search-space file and its search's"
    " trials: add new configs, remove dropped ones (their runs and materializations stay in the"
    " history). A file with an error leaves the partitions as they are.",
)
def register_configs(context: dg.SensorEvaluationContext, search_space: SearchSpace):
    """Partition add and delete requests that make the partitions match the configs of the search
    space the instance records (this daemon's file, unless a `recsys-assets retrain` read another
    since the file last changed); nothing while such a retrain runs."""
    instance = context.instance
    try:
        read = search_space.read()
        keys = [config.key for config in search_space.configs(read.configs)]
        fingerprint = read.fingerprint
    except (ConfigError, OSError) as error:
        return dg.SkipReason(f"search space not usable, partitions left as they are: {error}")
    announce_daemon_search_space(instance, search_space.path, fingerprint)
    retrain = cli_retrain(instance)
    if retrain is not None and retrain.running():
        return dg.SkipReason(
            f"{CLI_DRIVER} {retrain.retrain_id} is running: the partitions stay as it registered them"
        )
    recorded = recorded_search_space(instance)
    edited = context.cursor is not None and context.cursor != fingerprint
    context.update_cursor(fingerprint)
    if recorded is not None and recorded.by_the_cli and recorded.fingerprint != fingerprint and not edited:
        return dg.SkipReason(
            f"the partitions follow the search space {recorded.recorded_by} read ({recorded.path}), not"
            f" this daemon's {search_space.path}, until the nightly retrain or an edit of that file"
        )
    if recorded is None or recorded.fingerprint != fingerprint:
        record_search_space(
            instance, SearchSpaceRecord(search_space.path, fingerprint, "register_configs", read.text)
        )
    registered = set(instance.get_dynamic_partitions(model_configs.name))
    added, removed = partition_changes(registered, keys)
    if not added and not removed:
        return dg.SkipReason("config partitions already match the search space")
    requests = []
    if added:
        requests.append(model_configs.build_add_request(added))
    if removed:
        requests.append(model_configs.build_delete_request(removed))
    return dg.SensorResult(dynamic_partitions_requests=requests)


@dg.sensor(
    job=train_models,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="While the search file's [search] table has trials left, propose new configs once"
    " data is built: each becomes a config partition and a train_models run, at most 2 in flight."
    " A trial whose run failed is recorded as failed in the study.",
)
def propose_trials(context: dg.SensorEvaluationContext, search_space: SearchSpace, model_store: ModelStore):
    """A new trial's partition and training run, when budget and concurrency allow."""
    try:
        plan = search_space.plan()
    except ConfigError as error:
        return dg.SkipReason(f"search space not usable: {error}")
    if plan is None:
        return dg.SkipReason("the search space has no [search] table")
    data = latest_data_build(context.instance)
    if data is None:
        return dg.SkipReason("no data build yet")
    data_run = context.instance.get_run_by_id(data.run_id)
    driven = _driven_by_the_cli(data_run)
    if driven:
        return dg.SkipReason(driven)
    if not _follows_the_daemons_file(context.instance, search_space):
        return dg.SkipReason("the config partitions follow another search space than this daemon's")
    study = search_space.searching_study(plan, model_store)
    running = [
        (number, key)
        for key, (number, _, state) in search_space.trials().items()
        if state == TrialState.RUNNING
    ]
    for number, key in running:
        if training_failed_since(context.instance, key, data.timestamp):
            finish(study, number, None)
    in_flight = sum(not training_failed_since(context.instance, key, data.timestamp) for _, key in running)
    since = datetime.fromtimestamp(data.timestamp)
    progress = search_progress(study, since, in_flight, seconds_spent=time.time() - data.timestamp)
    step = next_search_step(plan, progress, max_in_flight=TRAINING_RUNS_AT_ONCE)
    if not step.propose:
        return dg.SkipReason(step.reason)
    proposed = search_space.propose_new(study, plan, model_store)
    if proposed is None:
        return dg.SkipReason("the search proposed a config already trained and recorded its result")
    number, config = proposed
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{plan.study_name}-trial-{number}",
                partition_key=config.key,
                tags=_chain_tags(data_run),
            )
        ],
        dynamic_partitions_requests=[model_configs.build_add_request([config.key])],
    )


with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    best_model_freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=best_model_freshness,
        name="best_model_freshness",
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
