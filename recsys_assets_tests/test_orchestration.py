"""One orchestration path: every run is a run of the code location, the sensors leave a CLI
retrain's chain to it, the config partitions follow the recorded search space, and a promoted
model stays pinned."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from recsys_assets.core.models.parameters import ConfigError
from recsys_assets.definitions import build_definitions
from recsys_assets.graph import records
from recsys_assets.graph.automation import register_configs, select_after_training, train_after_data
from recsys_assets.graph.history import latest_data_build
from recsys_assets.graph.jobs import RETRAIN_TAG
from recsys_assets.graph.partitions import model_configs
from recsys_assets.graph.plan import retrain_plan
from recsys_assets.graph.resources import SearchSpace
from recsys_assets.retrain import retrain
from recsys_assets.settings import Settings
from recsys_assets_tests.conftest import FAST_CONFIGS, write_search_space

LABEL = "__repository__@recsys_assets"
OTHER_CONFIGS = """
[[config]]
name = "other"
min_count = 1
epochs = 2
vector_size = 8
"""


def job_page(instance: dg.DagsterInstance, job: str) -> list[dg.DagsterRun]:
    """The runs the UI lists on a job's page (Dagster's filter for a job of a code location)."""
    return instance.get_runs(filters=dg.RunsFilter(job_name=job, tags={REPOSITORY_LABEL_TAG: LABEL}))


def after_data(defs: dg.Definitions, instance: dg.DagsterInstance, run: dg.DagsterRun):
    success = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)[0].dagster_event
    context = dg.build_run_status_sensor_context(
        sensor_name="train_after_data",
        dagster_event=success,
        dagster_instance=instance,
        dagster_run=run,
        resources={"search_space": defs.resources["search_space"]},
    )
    return train_after_data(context)


def sensor_context(instance: dg.DagsterInstance, space: SearchSpace, cursor: str | None = None):
    return dg.build_sensor_context(instance=instance, resources={"search_space": space}, cursor=cursor)


def test_a_retrains_runs_are_runs_of_the_code_location_that_the_sensors_leave_to_it(small_settings: Settings):
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance:
        retrain(small_settings, instance)
        first = instance.get_runs()
        retrain(small_settings, instance, force=True)
        second = [run for run in instance.get_runs() if run.run_id not in {r.run_id for r in first}]

        for runs in (first, second):
            assert {run.job_name for run in runs} == {"prepare_data", "train_models", "select_best_model"}
            assert all(run.remote_job_origin.location_name == "recsys_assets" for run in runs)
            assert len({run.tags[RETRAIN_TAG] for run in runs}) == 1, "one retrain, one id"
            assert all(run.tags[records.DRIVER_TAG] == records.CLI_DRIVER for run in runs)
        assert first[0].tags[RETRAIN_TAG] != second[0].tags[RETRAIN_TAG]
        assert len(job_page(instance, "train_models")) == 4, "two configs, two retrains"
        assert len(job_page(instance, "select_best_model")) == 2

        data_run = next(run for run in second if run.job_name == "prepare_data")
        skipped = after_data(defs, instance, data_run)
        assert isinstance(skipped, dg.SkipReason) and "recsys-assets retrain" in skipped.skip_message
        selection = select_after_training(dg.build_sensor_context(instance=instance, definitions=defs))
        assert isinstance(selection, dg.SkipReason) and "drives the runs" in selection.skip_message

        finished = records.cli_retrain(instance)
        assert finished.retrain_id == second[0].tags[RETRAIN_TAG] and not finished.running()
        assert records.recorded_search_space(instance).path == str(small_settings.search_space_path)


def test_dagsters_own_commands_record_their_runs_in_the_code_location_and_the_chain_follows(
    small_settings: Settings, monkeypatch
):
    monkeypatch.setenv("RECSYS_DATA_DIR", str(small_settings.data_dir))
    monkeypatch.setenv("RECSYS_PLAYLISTS_PATH", str(small_settings.playlists_path))
    monkeypatch.setenv("RECSYS_SEARCH_SPACE", str(small_settings.search_space_path))
    repository = ReconstructableRepository.for_module("recsys_assets.definitions", "defs")
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance:
        # How `dg launch` and `dagster asset materialize` run a job: in process, with no origin.
        with dg.execute_job(repository.get_reconstructable_job("prepare_data"), instance) as result:
            assert result.success
        (data_run,) = instance.get_runs()
        assert data_run.remote_job_origin.location_name == "recsys_assets"
        assert [run.run_id for run in job_page(instance, "prepare_data")] == [data_run.run_id]

        requested = after_data(defs, instance, data_run)
        assert {request.partition_key for request in requested.run_requests} == {
            "dim16-ep3-mc2-win5",
            "wide-window",
        }
        assert {request.tags[RETRAIN_TAG] for request in requested.run_requests} == {
            f"after-{data_run.run_id[:8]}"
        }, "the chain after a single job carries its own retrain id, not another retrain's"


def test_the_partitions_follow_the_search_space_the_latest_retrain_read(tmp_path: Path):
    daemons = SearchSpace(
        path=str(write_search_space(tmp_path, FAST_CONFIGS)), study_url=f"sqlite:///{tmp_path / 'study.db'}"
    )
    other = tmp_path / "other"
    other.mkdir()
    clis = write_search_space(other, OTHER_CONFIGS)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(model_configs.name, ["other"])
        records.start_cli_retrain(instance, "cli00001", str(clis))
        records.record_search_space(
            instance, records.SearchSpaceRecord(str(clis), "cli-file", "recsys-assets retrain cli00001")
        )
        running = register_configs(sensor_context(instance, daemons))
        assert isinstance(running, dg.SkipReason) and "cli00001 is running" in running.skip_message

        records.finish_cli_retrain(instance, "cli00001")
        first = sensor_context(instance, daemons)
        following = register_configs(first)
        assert isinstance(following, dg.SkipReason) and str(clis) in following.skip_message
        assert instance.get_dynamic_partitions(model_configs.name) == ["other"], "nothing deleted"
        assert records.daemon_search_space(instance).path == daemons.path

        Path(daemons.path).write_text(FAST_CONFIGS + "\n# edited\n")
        result = register_configs(sensor_context(instance, daemons, cursor=first.cursor))
        added, removed = result.dynamic_partitions_requests
        assert sorted(added.partition_keys) == ["dim16-ep3-mc2-win5", "wide-window"]
        assert removed.partition_keys == ["other"]
        assert records.recorded_search_space(instance).path == daemons.path


def test_a_retrain_holds_the_partitions_only_while_its_process_lives():
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    here = socket.gethostname()
    assert records.CliRetrain("live0001", "space.toml", here, os.getpid()).running()
    assert not records.CliRetrain("gone0001", "space.toml", here, int(ended.stdout)).running()
    assert not records.CliRetrain("done0001", "space.toml", here, os.getpid(), finished=True).running()
    assert records.CliRetrain("away0001", "space.toml", f"not-{here}", 1).running(), "cannot tell: wait"


def test_a_config_of_the_recorded_search_space_trains_where_the_daemons_file_lacks_it(tmp_path: Path):
    daemons = SearchSpace(
        path=str(write_search_space(tmp_path, FAST_CONFIGS)), study_url=f"sqlite:///{tmp_path / 'study.db'}"
    )
    with dg.instance_for_test() as instance:
        with pytest.raises(ConfigError, match="no config has key 'other'"):
            records.config_to_train(instance, "other", daemons)
        records.record_search_space(
            instance,
            records.SearchSpaceRecord(
                "cli.toml", "cli-file", "recsys-assets retrain cli00001", OTHER_CONFIGS
            ),
        )
        other = records.config_to_train(instance, "other", daemons)
        assert (other.key, other.params["vector_size"], other.params["epochs"]) == ("other", 8, 2)
        assert records.config_to_train(instance, "wide-window", daemons).key == "wide-window"


def test_the_sensors_request_only_what_the_retrain_plan_still_needs(small_settings: Settings):
    defs = build_definitions(small_settings)
    keys = ["dim16-ep3-mc2-win5", "wide-window"]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(model_configs.name, keys)
        first = defs.resolve_job_def("prepare_data").execute_in_process(instance=instance).dagster_run
        assert retrain_plan(instance, keys, latest_data_build(instance)).untrained == tuple(keys)

        defs.resolve_job_def("train_models").execute_in_process(
            instance=instance, partition_key="wide-window"
        )
        plan = retrain_plan(instance, keys, latest_data_build(instance))
        assert (plan.trained, plan.waiting, plan.ready_to_select) == (("wide-window",), (keys[0],), False)
        requested = after_data(defs, instance, first)
        assert [request.partition_key for request in requested.run_requests] == [keys[0]], (
            "a config trained on this build meanwhile (from the UI) is not trained again"
        )
        waiting = select_after_training(dg.build_sensor_context(instance=instance, definitions=defs))
        assert isinstance(waiting, dg.SkipReason) and waiting.skip_message.endswith(keys[0])

        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        stale = after_data(defs, instance, first)
        assert isinstance(stale, dg.SkipReason) and "no splits newer" in stale.skip_message
