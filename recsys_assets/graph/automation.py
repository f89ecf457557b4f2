"""Schedules and sensors: the nightly retrain in order, and configs registered from the file."""

from datetime import datetime

import dagster as dg

from recsys_assets.core.search_space import SearchSpaceError, partition_changes
from recsys_assets.graph.history import (
    configs_waiting_for_training,
    latest_data_build,
    latest_materialization,
    training_failed_since,
)
from recsys_assets.graph.jobs import prepare_data, select_best_model, train_models
from recsys_assets.graph.partitions import model_configs
from recsys_assets.graph.resources import SearchSpace

NIGHTLY_CRON = "0 2 * * *"


def nightly_retrain_schedule(timezone: str) -> dg.ScheduleDefinition:
    """At 02:00 in `timezone`, rebuild the data; the sensors below train and select after it."""
    return dg.ScheduleDefinition(
        name="nightly_retrain",
        cron_schedule=NIGHTLY_CRON,
        execution_timezone=timezone,
        job=prepare_data,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Nightly retrain: data first, then every config (train_after_data), then the"
        " best model and its test evaluation (select_after_training).",
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[prepare_data],
    request_job=train_models,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def train_after_data(context: dg.RunStatusSensorContext):
    """After the data assets are rebuilt, train every registered config once on them."""
    run_id = context.dagster_run.run_id
    keys = context.instance.get_dynamic_partitions(model_configs.name)
    return [dg.RunRequest(run_key=f"{run_id}:{key}", partition_key=key) for key in keys]


@dg.sensor(job=select_best_model, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def select_after_training(context: dg.SensorEvaluationContext):
    """Once every registered config has been trained on the latest prepare_data build, select the
    best model and evaluate it, once per build. Configs whose training failed are left out, and
    the best model's metadata names them."""
    data = latest_data_build(context.instance)
    keys = context.instance.get_dynamic_partitions(model_configs.name)
    if data is None or not keys:
        return dg.SkipReason("no data build or no registered config yet")
    if context.instance.get_run_by_id(data.run_id).job_name != prepare_data.name:
        return dg.SkipReason("the latest data was built outside prepare_data; that run selects itself")
    waiting = configs_waiting_for_training(context.instance, keys, data)
    failed = [key for key in waiting if training_failed_since(context.instance, key, data.timestamp)]
    built = datetime.fromtimestamp(data.timestamp).isoformat()
    if waiting and failed == waiting and len(failed) < len(keys):
        return dg.RunRequest(
            run_key=f"select-after-data-{built}-without-{'+'.join(failed)}",
            run_config={"ops": {"best_model": {"config": {"require_all_configs": False}}}},
            tags={"recsys/configs_failed": ",".join(failed)},
        )
    if waiting:
        return dg.SkipReason(f"waiting for configs trained on the latest data: {', '.join(waiting)}")
    models = [latest_materialization(context.instance, "embedding_model", key) for key in keys]
    selected = latest_materialization(context.instance, "best_model")
    if selected is not None and selected.timestamp >= max(model.timestamp for model in models):
        return dg.SkipReason("the best model is already selected from the latest models")
    return dg.RunRequest(run_key=f"select-after-data-{built}")


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def register_configs(context: dg.SensorEvaluationContext, search_space: SearchSpace):
    """Keep the config partitions equal to the search-space file: add new configs, remove
    dropped ones (their runs and materializations stay in the history)."""
    try:
        keys = [config.key for config in search_space.configs()]
    except SearchSpaceError as error:
        return dg.SkipReason(f"search space not usable, partitions left as they are: {error}")
    registered = set(context.instance.get_dynamic_partitions(model_configs.name))
    added, removed = partition_changes(registered, keys)
    if not added and not removed:
        return dg.SkipReason("config partitions already match the search space")
    requests = []
    if added:
        requests.append(model_configs.build_add_request(added))
    if removed:
        requests.append(model_configs.build_delete_request(removed))
    return dg.SensorResult(dynamic_partitions_requests=requests)
