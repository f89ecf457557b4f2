"""The nightly chain and config registration, driven through Dagster's own testing APIs."""

import shutil
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from recsys_assets.definitions import build_definitions
from recsys_assets.graph import records
from recsys_assets.graph.automation import (
    register_configs,
    select_after_training,
    train_after_data,
)
from recsys_assets.graph.checks import best_model_freshness
from recsys_assets.graph.jobs import TRAINING_TAG
from recsys_assets.graph.partitions import model_configs
from recsys_assets.graph.resources import SearchSpace
from recsys_assets.instance import INSTANCE_SETTINGS
from recsys_assets.settings import Settings, SettingsError, load_settings
from recsys_assets_tests.conftest import FAST_CONFIGS, write_search_space

KEYS = ["dim16-ep3-mc2-win5", "wide-window"]


def nightly_ticks(defs: dg.Definitions, instance: dg.DagsterInstance, *times: datetime) -> list:
    schedule = defs.resolve_schedule_def("nightly_retrain")
    resources = {name: defs.resources[name] for name in ("playlist_source", "search_space", "model_store")}
    ticks = []
    for at in times:
        with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=at, resources=resources
        ) as context:
            ticks.append(schedule.evaluate_tick(context))
    return ticks


def test_schedule_starts_the_data_job_at_two_in_the_configured_time_zone(small_settings: Settings):
    defs = build_definitions(replace(small_settings, timezone="Europe/Berlin"))
    schedule = defs.resolve_schedule_def("nightly_retrain")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 2 * * *", "Europe/Berlin")
    with dg.instance_for_test() as instance:
        (tick,) = nightly_ticks(defs, instance, datetime(2026, 11, 30, 2, 0))
    (request,) = tick.run_requests
    assert schedule.job_name == "prepare_data"
    assert request.tags["recsys/retrain"] == "nightly-2026-11-30-0200"


def test_the_nightly_retrain_waits_while_a_cli_retrain_runs(small_settings: Settings):
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance:
        records.start_cli_retrain(instance, "cli00001", str(small_settings.search_space_path))
        (waiting,) = nightly_ticks(defs, instance, datetime(2026, 11, 30, 2, 0))
        assert not waiting.run_requests
        assert "recsys-assets retrain cli00001 is running" in waiting.skip_message

        records.finish_cli_retrain(instance, "cli00001")
        (tick,) = nightly_ticks(defs, instance, datetime(2026, 12, 1, 2, 0))
        assert [request.tags["recsys/retrain"] for request in tick.run_requests] == [
            "nightly-2026-12-01-0200"
        ]
        assert (
            records.recorded_search_space(instance).recorded_by == "nightly_retrain nightly-2026-12-01-0200"
        )


def test_the_nightly_time_is_a_setting(small_settings: Settings):
    settings = load_settings({"RECSYS_NIGHTLY_CRON": " 30  4 * * 1-5 "})
    assert settings.nightly_cron == "30 4 * * 1-5"
    defs = build_definitions(replace(small_settings, nightly_cron=settings.nightly_cron))
    assert defs.resolve_schedule_def("nightly_retrain").cron_schedule == "30 4 * * 1-5"
    with dg.instance_for_test() as instance:
        ticks = nightly_ticks(defs, instance, datetime(2026, 12, 1, 4, 30), datetime(2026, 12, 1, 16, 30))
    assert len({tick.run_requests[0].run_key for tick in ticks}) == 2, "two ticks a day are two runs"


@pytest.mark.parametrize("cron", ["0 2 * *", "every night", "0 2 * * * *", "0; 2 * * *"])
def test_a_nightly_time_that_is_no_cron_is_refused(cron: str):
    with pytest.raises(SettingsError, match="RECSYS_NIGHTLY_CRON"):
        load_settings({"RECSYS_NIGHTLY_CRON": cron})


def data_run_context(
    defs: dg.Definitions, instance: dg.DagsterInstance, data_run: dg.ExecuteInProcessResult
) -> dg.RunStatusSensorContext:
    return dg.build_run_status_sensor_context(
        sensor_name="train_after_data",
        dagster_event=data_run.get_run_success_event(),
        dagster_instance=instance,
        dagster_run=data_run.dagster_run,
        resources={"search_space": defs.resources["search_space"]},
    )


def test_training_after_data_registers_configs_not_yet_registered(small_settings: Settings):
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(model_configs.name, KEYS[:1])
        data_run = defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        result = train_after_data(data_run_context(defs, instance, data_run))
        assert sorted(r.partition_key for r in result.run_requests) == sorted(KEYS)
        (added,) = result.dynamic_partitions_requests
        assert added.partition_keys == KEYS[1:]


def evaluate_select(defs: dg.Definitions, instance: dg.DagsterInstance):
    return select_after_training(dg.build_sensor_context(instance=instance, definitions=defs))


def test_nightly_chain_trains_every_config_then_selects_once(small_settings: Settings):
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(model_configs.name, KEYS)
        assert isinstance(evaluate_select(defs, instance), dg.SkipReason)

        data_run = defs.resolve_job_def("prepare_data").execute_in_process(
            instance=instance, tags={"recsys/retrain": "nightly-2026-11-30"}
        )
        requests = train_after_data(data_run_context(defs, instance, data_run)).run_requests
        assert sorted(r.partition_key for r in requests) == sorted(KEYS)
        assert len({r.run_key for r in requests}) == len(KEYS)
        assert all(r.run_key.startswith(data_run.run_id) for r in requests)
        assert all(r.tags["recsys/retrain"] == "nightly-2026-11-30" for r in requests), "one story per night"

        first = requests[0].partition_key
        defs.resolve_job_def("train_models").execute_in_process(instance=instance, partition_key=first)
        waiting = evaluate_select(defs, instance)
        assert isinstance(waiting, dg.SkipReason) and requests[1].partition_key in waiting.skip_message

        for request in requests[1:]:
            defs.resolve_job_def("train_models").execute_in_process(
                instance=instance, partition_key=request.partition_key
            )
        selected = evaluate_select(defs, instance)
        assert isinstance(selected, dg.RunRequest) and selected.tags["recsys/retrain"] == "nightly-2026-11-30"
        assert evaluate_select(defs, instance).run_key == selected.run_key, "one run key per data build"

        defs.resolve_job_def("select_best_model").execute_in_process(instance=instance)
        assert instance.get_latest_materialization_event(dg.AssetKey("test_evaluation"))
        assert isinstance(evaluate_select(defs, instance), dg.SkipReason)


def test_register_configs_adds_new_and_removes_dropped_configs(tmp_path: Path):
    space = SearchSpace(
        path=str(write_search_space(tmp_path, FAST_CONFIGS)), study_url=f"sqlite:///{tmp_path / 'study.db'}"
    )
    with dg.instance_for_test() as instance:
        result = register_configs(
            dg.build_sensor_context(instance=instance, resources={"search_space": space})
        )
        (request,) = result.dynamic_partitions_requests
        assert sorted(request.partition_keys) == sorted(KEYS)
        instance.add_dynamic_partitions(model_configs.name, KEYS)
        assert isinstance(
            register_configs(dg.build_sensor_context(instance=instance, resources={"search_space": space})),
            dg.SkipReason,
        )
        write_search_space(tmp_path, "[[config]]\nname = 'wide-window'\nwindow = 10\n")
        result = register_configs(
            dg.build_sensor_context(instance=instance, resources={"search_space": space})
        )
        (request,) = result.dynamic_partitions_requests
        assert isinstance(request, dg.DeleteDynamicPartitionsRequest)
        assert request.partition_keys == ["dim16-ep3-mc2-win5"]
        write_search_space(tmp_path, "[[config]]\nwindoww = 3\n")
        skipped = register_configs(
            dg.build_sensor_context(instance=instance, resources={"search_space": space})
        )
        assert "unknown word2vec parameter" in skipped.skip_message


def test_training_jobs_are_tagged_and_the_instance_caps_them(tmp_path: Path):
    defs = build_definitions(
        Settings(playlists_path=None, data_dir=tmp_path, search_space_path=tmp_path / "s.toml")
    )
    assert defs.resolve_job_def("train_models").tags[TRAINING_TAG] == "true"
    shutil.copyfile(INSTANCE_SETTINGS, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        limits = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
    assert {"key": TRAINING_TAG, "limit": 2} in limits


def test_definitions_carry_the_schedule_and_sensors(small_settings: Settings):
    defs = build_definitions(replace(small_settings, timezone="America/New_York"))
    schedule = defs.resolve_schedule_def("nightly_retrain")
    assert schedule.execution_timezone == "America/New_York"
    assert {s.name for s in defs.sensors} == {
        "train_after_data",
        "select_after_training",
        "register_configs",
        "propose_trials",
        "best_model_freshness",
    }
    assert all(len(sensor.description or "") > 40 for sensor in defs.sensors), "the UI shows a description"


@pytest.mark.parametrize("timezone", ["Mars/Olympus", "not a zone"])
def test_unknown_time_zone_is_refused(timezone: str):
    with pytest.raises(SettingsError, match="RECSYS_TIMEZONE"):
        load_settings({"RECSYS_TIMEZONE": timezone})


def test_select_sensor_leaves_data_built_outside_the_nightly_chain_alone(small_settings: Settings):
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(model_configs.name, KEYS)
        data_assets = [defs.get_assets_def("playlists"), defs.get_assets_def("train_playlists")]
        dg.materialize(data_assets, instance=instance, resources=defs.resources)
        skipped = evaluate_select(defs, instance)
        assert "built outside prepare_data" in skipped.skip_message


def test_best_model_freshness_warns_after_a_day_without_a_retrain_or_a_check(small_settings: Settings):
    defs = build_definitions(small_settings)
    checks_job = dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(*best_model_freshness))
    defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[checks_job]))

    def fresh(instance: dg.DagsterInstance, hours_ago: float) -> bool:
        confirmed = time.time() - hours_ago * 3600
        instance.report_runless_asset_event(
            dg.AssetObservation(
                "best_model",
                metadata={"dagster/last_updated_timestamp": dg.MetadataValue.timestamp(confirmed)},
            )
        )
        result = defs.resolve_job_def("freshness").execute_in_process(instance=instance)
        (evaluation,) = result.get_asset_check_evaluations()
        assert evaluation.severity == dg.AssetCheckSeverity.WARN
        return evaluation.passed

    with dg.instance_for_test() as instance:
        assert not fresh(instance, 26)
        assert fresh(instance, 2)
