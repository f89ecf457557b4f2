"""Retrains and nightly runs train only when the source, the search space or the code changed."""

import os
import shutil
import socket
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from recsys_assets.client import model_versions
from recsys_assets.core.data.demo_data import write_demo_rows
from recsys_assets.definitions import build_definitions
from recsys_assets.graph import changes
from recsys_assets.graph.history import latest_data_version, latest_materialization
from recsys_assets.graph.versions import DATA_CODE_VERSION, MODEL_CODE_VERSION
from recsys_assets.retrain import retrain
from recsys_assets.settings import Settings
from recsys_assets_tests.conftest import SMALL_SPEC

DATA_TABLES = ("playlists", "train_playlists", "validate_playlists", "test_playlists", "training_statistics")


def runs(instance: dg.DagsterInstance) -> int:
    return len(instance.get_runs())


def nightly_tick(settings: Settings, instance: dg.DagsterInstance):
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def("nightly_retrain")
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime(2026, 12, 1, 2, 0),
        resources={name: defs.resources[name] for name in ("playlist_source", "search_space", "model_store")},
    ) as context:
        return schedule.evaluate_tick(context)


def change_source(settings: Settings) -> None:
    """Replace the source file's content with other generated rows."""
    other = write_demo_rows(settings.playlists_path.parent / "other", replace(SMALL_SPEC, seed=4))
    shutil.move(other, settings.playlists_path)


@pytest.fixture
def own_source(small_settings: Settings, small_rows: Path, tmp_path: Path) -> Settings:
    """The small settings reading a copy of the rows that the test may touch and change."""
    source = tmp_path / "rows" / "playlists.parquet"
    source.parent.mkdir()
    shutil.copyfile(small_rows, source)
    return replace(small_settings, playlists_path=source)


def test_an_unchanged_retrain_skips_training_and_a_changed_one_does_not(own_source: Settings, capsys):
    with dg.instance_for_test() as instance:
        first = retrain(own_source, instance)
        assert "no retrain has finished yet" in capsys.readouterr().out
        trained = runs(instance)

        os.utime(own_source.playlists_path, (1, 1))
        assert retrain(own_source, instance) == first, "the last result, not a new one"
        out = capsys.readouterr().out
        assert "Nothing changed since the retrain of" in out and "--force" in out
        assert runs(instance) == trained, "a new mtime with the same content trains nothing"
        observation = instance.fetch_observations(dg.AssetKey("best_model"), limit=1).records[0]
        assert "unchanged_since" in observation.asset_observation.metadata

        retrain(own_source, instance, force=True)
        assert "Retraining (--force)" in capsys.readouterr().out and runs(instance) > trained
        trained = runs(instance)

        change_source(own_source)
        retrain(own_source, instance)
        assert "the source changed since" in capsys.readouterr().out and runs(instance) > trained
        trained = runs(instance)

        own_source.search_space_path.write_text(own_source.search_space_path.read_text() + "\n# note\n")
        retrain(own_source, instance)
        assert "the search space changed since" in capsys.readouterr().out and runs(instance) > trained


def test_the_nightly_schedule_skips_when_nothing_changed_and_renews_freshness(own_source: Settings):
    with dg.instance_for_test() as instance:
        assert nightly_tick(own_source, instance).run_requests, "nothing retrained yet"
        retrain(own_source, instance)
        skipped = nightly_tick(own_source, instance)
        assert not skipped.run_requests and "Nothing changed since" in skipped.skip_message
        assert instance.fetch_observations(dg.AssetKey("best_model"), limit=1).records

        change_source(own_source)
        assert nightly_tick(own_source, instance).run_requests, "a new source retrains"


def test_a_code_change_retrains(own_source: Settings, monkeypatch, capsys):
    with dg.instance_for_test() as instance:
        retrain(own_source, instance)
        monkeypatch.setattr(changes, "RETRAIN_CODE_VERSION", "another")
        retrain(own_source, instance)
        assert "the code changed since" in capsys.readouterr().out


def test_the_assets_carry_a_data_version_from_the_source_and_code_versions(own_source: Settings):
    defs = build_definitions(own_source)
    for asset, version in [("playlists", DATA_CODE_VERSION), ("embedding_model", MODEL_CODE_VERSION)]:
        assert defs.get_assets_def(asset).code_versions_by_key[dg.AssetKey(asset)] == version
    with dg.instance_for_test() as instance:
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        source = defs.resources["playlist_source"]
        assert latest_data_version(instance, "playlists") == source.data_version(42)
        assert latest_data_version(instance, "train_playlists") == source.data_version(42)
        record = latest_materialization(instance, "playlists")
        assert record.asset_materialization.metadata["source_fingerprint"].value == source.fingerprint()


def test_a_config_appended_while_a_retrain_trains_is_not_lost(small_settings: Settings, monkeypatch, capsys):
    """The search space is fingerprinted as the retrain read it: an edit made meanwhile makes the
    next retrain train, instead of being recorded as seen."""
    import recsys_assets.retrain as driver

    run = driver.CodeLocationRuns.run
    appended = []

    def run_and_edit(self, specs, say=print):
        outcomes = run(self, specs, say)
        if any(spec.job == "train_models" for spec in specs) and not appended:
            with open(small_settings.search_space_path, "a") as file:
                file.write(
                    '\n[[config]]\nname = "added-meanwhile"\nmin_count = 2\nepochs = 2\nvector_size = 8\n'
                )
            appended.append(specs[0].partition_key)
        return outcomes

    monkeypatch.setattr(driver.CodeLocationRuns, "run", run_and_edit)
    with dg.instance_for_test() as instance:
        retrain(small_settings, instance)
        assert appended
        capsys.readouterr()
        monkeypatch.setattr(driver.CodeLocationRuns, "run", run)
        retrain(small_settings, instance)
        out = capsys.readouterr().out
        assert "the search space changed" in out
        assert "-> train_models [added-meanwhile]" in out


def test_moving_the_storage_retrains_into_the_new_place(own_source: Settings, tmp_path: Path, capsys):
    """Where things are stored is part of "unchanged": after RECSYS_STORAGE_URL changes, the next
    retrain trains (instead of skipping and then reading files that are not there) and serves a
    model from the new place."""
    moved = replace(own_source, storage_url=(tmp_path / "bucket").as_uri())
    with dg.instance_for_test() as instance:
        retrain(own_source, instance)
        capsys.readouterr()
        result = retrain(moved, instance)
        assert "the storage settings changed since" in capsys.readouterr().out
        assert result.config_key
        assert (tmp_path / "bucket" / "models" / "best_model.npz").is_file()
        retrain(moved, instance)
        assert "Nothing changed since" in capsys.readouterr().out


def materialize_alone(settings: Settings, instance: dg.DagsterInstance, asset: str, partition=None) -> None:
    """What `dagster asset materialize -m recsys_assets --select ASSET` does."""
    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey(asset)], partition_key=partition
    ).success


def test_a_single_asset_run_on_unchanged_inputs_neither_breaks_the_skip_nor_adds_a_version(
    own_source: Settings, capsys
):
    with dg.instance_for_test() as instance:
        first = retrain(own_source, instance)
        versions = model_versions("best_model", instance=instance)
        materialize_alone(own_source, instance, "best_model")
        capsys.readouterr()
        trained = runs(instance)
        assert retrain(own_source, instance) == first
        assert "Nothing changed since" in capsys.readouterr().out and runs(instance) == trained
        (version,) = model_versions("best_model", instance=instance)
        assert version["version"] == versions[0]["version"] and version["chosen_again"] == 1

        materialize_alone(own_source, instance, "embedding_model", first.config_key)
        materialize_alone(own_source, instance, "best_model")
        capsys.readouterr()
        trained = runs(instance)
        second = retrain(own_source, instance)
        assert "evaluating it on test only" in capsys.readouterr().out
        assert runs(instance) == trained + 1, "the test evaluation alone"
        assert second.config_key == first.config_key and second.test_rows == first.test_rows
        assert len(model_versions("best_model", instance=instance)) == 2, "a retrained model is a new version"
        assert retrain(own_source, instance) == second
        assert "Nothing changed since" in capsys.readouterr().out


@pytest.mark.parametrize("asset", ["playlists", "validate_playlists"])
def test_selecting_one_table_of_the_data_rebuilds_and_records_them_all(own_source: Settings, asset, capsys):
    """`dagster asset materialize --select playlists` rebuilds the data as one unit."""
    with dg.instance_for_test() as instance:
        first = retrain(own_source, instance)
        built = {table: latest_materialization(instance, table) for table in DATA_TABLES}
        change_source(own_source)
        materialize_alone(own_source, instance, asset)
        rebuilt = {table: latest_materialization(instance, table) for table in DATA_TABLES}
        versions = {record.asset_materialization.tags["dagster/data_version"] for record in rebuilt.values()}
        assert len(versions) == 1
        assert versions != {built["train_playlists"].asset_materialization.tags["dagster/data_version"]}
        assert all(rebuilt[table].timestamp > built[table].timestamp for table in DATA_TABLES)
        assert {record.run_id for record in rebuilt.values()} == {rebuilt[asset].run_id}, "one run"
        capsys.readouterr()
        assert retrain(own_source, instance) != first
        assert "the source changed since" in capsys.readouterr().out


def test_a_search_with_nothing_new_to_try_lets_the_next_retrain_skip(
    small_settings: Settings, tmp_path: Path, capsys
):
    space = tmp_path / "exhausted.toml"
    space.write_text(
        '[[config]]\nmodel = "rules"\n[search]\ntime_budget_minutes = 5\n'
        "[search.rules]\nsteps = { choices = [5, 6] }\n"
    )
    settings = replace(small_settings, search_space_path=space)
    with dg.instance_for_test() as instance:
        retrain(settings, instance)
        assert "the space is exhausted" in capsys.readouterr().out
        trained = runs(instance)
        retrain(settings, instance)
        assert "training skipped" in capsys.readouterr().out
        assert runs(instance) == trained


def test_a_run_whose_process_was_killed_is_marked_failed_by_a_retrain_that_skips(
    own_source: Settings, capsys
):
    from recsys_assets.run_launcher import HOST_TAG, PID_TAG
    from recsys_assets_tests.test_run_launcher import killed_process, some_job

    with dg.instance_for_test() as instance:
        retrain(own_source, instance)
        run = instance.create_run_for_job(
            some_job, tags={HOST_TAG: socket.gethostname(), PID_TAG: str(killed_process())}
        )
        instance.report_dagster_event(
            dg.DagsterEvent(event_type_value=dg.DagsterEventType.RUN_START.value, job_name=run.job_name),
            run.run_id,
        )
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        retrain(own_source, instance)
        out = capsys.readouterr().out
        assert "training skipped" in out and f"Marked run {run.run_id} failed" in out
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


def test_the_nightly_schedule_serves_the_kept_version_over_another_model_and_skips(own_source: Settings):
    with dg.instance_for_test() as instance:
        retrain(own_source, instance)
        served = own_source.models_dir / "best_model.npz"
        kept = served.read_bytes()
        (other, *_) = sorted((own_source.models_dir / "versions" / "embedding_model").rglob("*.npz"))
        other_bytes = other.read_bytes()
        served.write_bytes(
            other_bytes[:-1] + bytes([other_bytes[-1] ^ 1]) if other_bytes == kept else other_bytes
        )
        assert served.read_bytes() != kept
        tick = nightly_tick(own_source, instance)
        assert tick.skip_message and "is served again" in tick.skip_message
        assert served.read_bytes() == kept
