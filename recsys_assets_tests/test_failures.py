"""Failures: one config failing, resuming, and a killed process that was writing a model."""

import multiprocessing
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from recsys_assets.core.data.demo_data import write_demo_rows
from recsys_assets.core.models.trained import TrainedModel, load_model, save_model
from recsys_assets.core.models.word2vec.model import Word2VecModel
from recsys_assets.core.models.word2vec.strategies import QueryStrategy
from recsys_assets.definitions import build_definitions
from recsys_assets.graph import io_managers
from recsys_assets.graph.automation import select_after_training
from recsys_assets.graph.changes import decide
from recsys_assets.graph.history import latest_metadata
from recsys_assets.graph.io_managers import AssetValueFiles, ModelFiles
from recsys_assets.graph.partitions import model_configs
from recsys_assets.graph.resources import PlaylistDatabase, TrainingFiles
from recsys_assets.retrain import ConfigsFailed, RetrainStopped, retrain
from recsys_assets.settings import Settings
from recsys_assets_tests.conftest import SMALL_SPEC, write_search_space
from recsys_assets_tests.training_data import train_on

GOOD = "[[config]]\nname = 'good'\nmin_count = 2\nepochs = 2\nvector_size = 8\n"
BROKEN = "[[config]]\nname = 'broken'\nmin_count = 1000000\nepochs = 2\nvector_size = 8\n"
FIXED = "[[config]]\nname = 'broken'\nmin_count = 3\nepochs = 2\nvector_size = 8\n"


def runs_of(instance: dg.DagsterInstance, job: str, partition: str | None = None) -> int:
    tags = {"dagster/partition": partition} if partition else {}
    return len(instance.get_runs(filters=dg.RunsFilter(job_name=job, tags=tags)))


def test_a_failing_config_spares_the_others_and_resume_trains_only_it(
    small_settings: Settings, tmp_path: Path
):
    settings = replace(small_settings, search_space_path=write_search_space(tmp_path, GOOD + BROKEN))
    with dg.instance_for_test() as instance:
        with pytest.raises(ConfigsFailed) as failure:
            retrain(settings, instance)
        assert failure.value.failed == ["broken"]
        assert failure.value.result.config_key == "good"
        assert latest_metadata(instance, "best_model")["configs_compared"] == ["good"]
        assert latest_metadata(instance, "best_model")["configs_not_compared"] == ["broken"]
        good_model = settings.models_dir / "embedding_model" / "good.npz"
        before = good_model.read_bytes()

        write_search_space(tmp_path, GOOD + FIXED)
        result = retrain(settings, instance, resume=True)
        assert runs_of(instance, "prepare_data") == 1
        assert runs_of(instance, "train_models", "good") == 1
        assert runs_of(instance, "train_models", "broken") == 2
        assert good_model.read_bytes() == before
        assert sorted(latest_metadata(instance, "best_model")["configs_compared"]) == ["broken", "good"]
        assert result.test_rows > 0


def test_select_sensor_leaves_out_configs_whose_training_failed(small_settings: Settings, tmp_path: Path):
    settings = replace(small_settings, search_space_path=write_search_space(tmp_path, GOOD + BROKEN))
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(model_configs.name, ["good", "broken"])
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        for key in ("good", "broken"):
            defs.resolve_job_def("train_models").execute_in_process(
                instance=instance, partition_key=key, raise_on_error=False
            )
        request = select_after_training(dg.build_sensor_context(instance=instance, definitions=defs))
        assert isinstance(request, dg.RunRequest)
        selection = request.run_config["ops"]["best_model"]["config"]
        assert selection == {"require_all_configs": False, "expected_configs": ["good", "broken"]}
        assert request.tags["recsys/configs_failed"] == "broken"
        defs.resolve_job_def("select_best_model").execute_in_process(
            instance=instance, run_config=request.run_config
        )
        assert latest_metadata(instance, "best_model")["configs_not_compared"] == ["broken"]


def test_a_winning_model_rewritten_during_selection_fails_it(
    small_settings: Settings, tmp_path: Path, monkeypatch
):
    settings = replace(small_settings, search_space_path=write_search_space(tmp_path, GOOD))
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(model_configs.name, ["good"])
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        defs.resolve_job_def("train_models").execute_in_process(instance=instance, partition_key="good")
        load_model_file = ModelFiles.load_from_path

        def rewritten_meanwhile(self, context, path):
            model = load_model_file(self, context, path)
            return replace(model, validation={name: value / 2 for name, value in model.validation.items()})

        monkeypatch.setattr(ModelFiles, "load_from_path", rewritten_meanwhile)
        result = defs.resolve_job_def("select_best_model").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not result.success
        (failure,) = [event for event in result.all_events if event.is_step_failure]
        assert "The model file of good changed while the configs were compared" in str(
            failure.step_failure_data.error
        )
        assert latest_metadata(instance, "best_model") == {}


def save_stalling_before_rename(model: TrainedModel, path: Path, started) -> None:
    """Save, but stall once the temporary file is written and before it replaces the model."""

    def stall(descriptor: int) -> None:
        started.set()
        time.sleep(60)

    os.fsync = stall
    save_model(model, path)


def test_a_process_killed_while_writing_leaves_the_previous_model(tmp_path: Path):
    vectors = train_on([["a", "b", "c"]] * 20, {"min_count": 1, "epochs": 1, "vector_size": 4}, seed=1)
    model = TrainedModel(
        config_key="m",
        params={},
        seed=1,
        fitted=Word2VecModel(vectors),
        k=10,
        strategy=QueryStrategy(),
        validation={"hit_rate@10": 0.5},
        validation_rows=5,
        train_seconds=0.1,
    )
    path = tmp_path / "m.npz"
    save_model(model, path)
    before = path.read_bytes()
    context = multiprocessing.get_context("fork")
    started = context.Event()
    writer = context.Process(
        target=save_stalling_before_rename, args=(replace(model, config_key="new"), path, started)
    )
    writer.start()
    assert started.wait(30)
    os.kill(writer.pid, signal.SIGKILL)
    writer.join()
    assert [p.name for p in tmp_path.glob(".m.npz.*.tmp")], "the killed writer left its temporary file"
    assert path.read_bytes() == before
    assert load_model(path).config_key == "m"
    assert np.array_equal(load_model(path).fitted.vectors.vectors, vectors.vectors)
    save_model(replace(model, config_key="again"), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"], "stale temporary files are cleaned"


def read_train_count(database: str, result) -> None:
    with PlaylistDatabase(database=database).read_connection() as conn:
        time.sleep(1)
        result.put(conn.execute("SELECT count(*) FROM train_playlists").fetchall()[0][0])


def test_training_runs_read_the_tables_at_the_same_time(small_settings: Settings):
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance:
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    readers = [
        context.Process(target=read_train_count, args=(str(small_settings.duckdb_path), results))
        for _ in range(3)
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(60)
    assert [reader.exitcode for reader in readers] == [0, 0, 0]
    counts = [results.get(timeout=5) for _ in readers]
    assert len(set(counts)) == 1 and counts[0] > 0


PICKY = "[[config]]\nname = 'picky'\nmin_count = 100\nepochs = 2\nvector_size = 8\n"
DECISION_RESOURCES = ("playlist_source", "search_space", "model_store")


def test_a_config_that_fails_on_new_data_is_not_served_from_the_old_build_and_the_skip_waits(
    small_settings: Settings, tmp_path: Path, capsys
):
    """Retrain on A; on B one config cannot train: its model from A is neither compared nor
    served, the skip records nothing, and the next retrain and --resume do not skip."""
    settings = replace(small_settings, search_space_path=write_search_space(tmp_path, GOOD + PICKY))
    scarce = write_demo_rows(tmp_path / "b", replace(SMALL_SPEC, playlists=60, seed=4))
    on_b = replace(settings, playlists_path=scarce)
    with dg.instance_for_test() as instance:
        retrain(settings, instance)
        assert sorted(latest_metadata(instance, "best_model")["configs_compared"]) == ["good", "picky"]
        with pytest.raises(ConfigsFailed) as failure:
            retrain(on_b, instance)
        assert failure.value.failed == ["picky"]
        selected = latest_metadata(instance, "best_model")
        assert selected["configs_compared"] == ["good"] and selected["configs_not_compared"] == ["picky"]
        assert failure.value.result.config_key == "good"
        assert "data_fingerprint" not in selected, "a retrain that left a config out is not complete"
        for resume in (False, True):
            resources = build_definitions(on_b).resources
            decision = decide(instance, *(resources[name] for name in DECISION_RESOURCES), 42)
            assert decision.needed, decision.reason
            with pytest.raises(ConfigsFailed):
                retrain(on_b, instance, resume=resume)
    assert "Nothing changed" not in capsys.readouterr().out


def test_selecting_after_a_new_data_build_refuses_models_of_the_old_one(
    small_settings: Settings, tmp_path: Path
):
    """The single-asset path: new data, then best_model without training: refused, and the next
    retrain does not skip."""
    settings = replace(small_settings, search_space_path=write_search_space(tmp_path, GOOD))
    on_b = replace(settings, playlists_path=write_demo_rows(tmp_path / "b", replace(SMALL_SPEC, seed=8)))
    defs = build_definitions(on_b)
    with dg.instance_for_test() as instance:
        retrain(settings, instance)
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        selection = defs.resolve_job_def("select_best_model").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not selection.success
        assert "trained on an older data build only: good" in str(
            selection.get_step_failure_events()[0].step_failure_data.error
        )
        assert decide(instance, *(defs.resources[name] for name in DECISION_RESOURCES), 42).needed


def test_a_data_build_that_fails_while_publishing_leaves_the_tables_and_the_build_as_they_were(
    small_settings: Settings, tmp_path: Path
):
    """The tables, the training files and the record are one unit: a failure writing the training
    files rolls the tables back, and --resume, once the fault is gone, builds, trains and
    evaluates on the new data."""
    settings = replace(small_settings, search_space_path=write_search_space(tmp_path, GOOD))
    on_b = replace(settings, playlists_path=write_demo_rows(tmp_path / "b", replace(SMALL_SPEC, seed=8)))
    defs = build_definitions(on_b)
    with dg.instance_for_test() as instance:
        retrain(settings, instance)
        tables = PlaylistDatabase(database=str(settings.duckdb_path))
        with tables.read_connection() as conn:
            before = conn.execute("SELECT count(*) FROM playlists").fetchall()
        old_build = defs.resources["training_files"].current()
        new_version = defs.resources["playlist_source"].data_version(42)
        Path(settings.training_files_location, new_version).write_text("in the way")
        build = defs.resolve_job_def("prepare_data").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not build.success
        with tables.read_connection() as conn:
            assert conn.execute("SELECT count(*) FROM playlists").fetchall() == before
        assert defs.resources["training_files"].current() == old_build
        Path(settings.training_files_location, new_version).unlink()
        resumed = retrain(on_b, instance, resume=True)
        assert defs.resources["training_files"].current().data_version == new_version
        assert latest_metadata(instance, "best_model")["data_fingerprint"] == new_version
        assert resumed.test_rows > 0


def test_a_write_removes_the_temporary_files_of_dead_writers_only(tmp_path: Path):
    """Another live writer's temporary file is its work in progress: a second write keeps it."""
    import socket
    import subprocess

    from recsys_assets.core.storage.files import write_bytes_atomically

    path = tmp_path / "m.npz"
    with subprocess.Popen(["sleep", "30"]) as live:
        dead = subprocess.Popen(["true"])
        dead.wait()
        host = socket.gethostname()
        live_file = tmp_path / f".m.npz.{host}-{live.pid}-00000000.tmp"
        dead_file = tmp_path / f".m.npz.{host}-{dead.pid}-00000000.tmp"
        for file in (live_file, dead_file):
            file.write_bytes(b"partial")
        write_bytes_atomically(path, b"whole")
        live.kill()
    assert live_file.exists() and not dead_file.exists()
    assert path.read_bytes() == b"whole"


TABLE_DIGEST = "SELECT count(*), sum(hash(track_sequence)) FROM playlists"


def test_a_source_rewritten_while_the_build_reads_it_replaces_nothing(
    small_settings: Settings, tmp_path: Path, monkeypatch
):
    """The data version names what was read: a source that changes between its fingerprint and
    the end of the read fails the build, and the tables and the build record stay as they were."""
    import recsys_assets.graph.data as data_assets

    source = write_demo_rows(tmp_path / "a", SMALL_SPEC)
    other = write_demo_rows(tmp_path / "b", replace(SMALL_SPEC, seed=8))
    settings = replace(small_settings, playlists_path=source)
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        tables = PlaylistDatabase(database=str(settings.duckdb_path))
        with tables.read_connection() as conn:
            before = conn.execute(TABLE_DIGEST).fetchall()
        old_build = defs.resources["training_files"].current()
        build_tables = data_assets.build_playlist_tables

        def rewrite_then_build(conn, path, **options):
            source.write_bytes(other.read_bytes())
            return build_tables(conn, path, **options)

        monkeypatch.setattr(data_assets, "build_playlist_tables", rewrite_then_build)
        build = defs.resolve_job_def("prepare_data").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not build.success
        assert "changed while it was read" in str(build.get_step_failure_events()[0].step_failure_data.error)
        with tables.read_connection() as conn:
            assert conn.execute(TABLE_DIGEST).fetchall() == before
        assert defs.resources["training_files"].current() == old_build


def _fails_for(original, asset: str, names_asset):
    """`original`, except that it raises an injected failure when called for `asset`."""

    def failing(*args, **kwargs):
        if names_asset(asset, *args, *kwargs.values()):
            raise OSError(f"injected failure for {asset}")
        return original(*args, **kwargs)

    return failing


def _path_of(asset: str, *args) -> bool:
    return any((isinstance(arg, Path) and arg.stem == asset) or asset in str(arg) for arg in args)


def _context_of(asset: str, *args) -> bool:
    return any(isinstance(arg, dg.OutputContext) and arg.asset_key.path[-1] == asset for arg in args)


SELECTION_PUBLISH_STEPS = {
    "keeping the version file": (io_managers, "write_bytes_atomically", "best_model", _path_of),
    "serving it": (io_managers, "publish", "best_model", _path_of),
    "recording the selection": (ModelFiles, "get_metadata", "best_model", _context_of),
    "keeping the test evaluation": (AssetValueFiles, "dump_to_path", "test_evaluation", _context_of),
}


@pytest.mark.slow
@pytest.mark.parametrize("step", SELECTION_PUBLISH_STEPS)
def test_a_selection_failing_at_any_publish_step_is_not_skipped_and_resume_finishes_it(
    small_settings: Settings, tmp_path: Path, monkeypatch, step: str
):
    """New data, then a failure at one publish step of selection: the served model is the last
    recorded one or the new build's (never a mix), the next retrain does not skip, and --resume
    selects and evaluates again without training."""
    settings = replace(small_settings, search_space_path=write_search_space(tmp_path, GOOD))
    on_b = replace(settings, playlists_path=write_demo_rows(tmp_path / "b", replace(SMALL_SPEC, seed=8)))
    defs = build_definitions(on_b)
    served = settings.models_dir / "best_model.npz"
    owner, name, asset, names_asset = SELECTION_PUBLISH_STEPS[step]
    with dg.instance_for_test() as instance:
        retrain(settings, instance)
        before = served.read_bytes()
        with monkeypatch.context() as patch:
            patch.setattr(owner, name, _fails_for(getattr(owner, name), asset, names_asset))
            with pytest.raises(RetrainStopped, match=f"injected failure for {asset}"):
                retrain(on_b, instance)
        if step in ("keeping the version file", "serving it"):
            assert served.read_bytes() == before
        decision = decide(instance, *(defs.resources[name] for name in DECISION_RESOURCES), 42)
        assert decision.needed, decision.reason
        trained = runs_of(instance, "train_models")
        retrain(on_b, instance, resume=True)
        assert runs_of(instance, "train_models") == trained
        record = latest_metadata(instance, "best_model")
        assert record["data_fingerprint"] == defs.resources["playlist_source"].data_version(42)
        assert load_model(served).summary() == load_model(Path(record["path"])).summary()
        after = decide(instance, *(defs.resources[name] for name in DECISION_RESOURCES), 42)
        assert not after.needed, after.reason


DATA_PUBLISH_STEPS = ("publish", "load", "record")
"""The training-files steps of a data build: before its commit, then after it, then its record."""


@pytest.mark.slow
@pytest.mark.parametrize("step", DATA_PUBLISH_STEPS)
def test_a_data_build_failing_at_any_publish_step_is_rebuilt_by_resume(
    small_settings: Settings, tmp_path: Path, monkeypatch, step: str
):
    """New data, then a failure at one publish step of the data build: the next retrain does not
    skip, and --resume rebuilds the data instead of keeping a build whose tables were replaced."""
    settings = replace(small_settings, search_space_path=write_search_space(tmp_path, GOOD))
    on_b = replace(settings, playlists_path=write_demo_rows(tmp_path / "b", replace(SMALL_SPEC, seed=8)))
    defs = build_definitions(on_b)
    new_version = defs.resources["playlist_source"].data_version(42)
    with dg.instance_for_test() as instance:
        retrain(settings, instance)
        with monkeypatch.context() as patch:
            patch.setattr(TrainingFiles, step, _fails_for(getattr(TrainingFiles, step), "", lambda *_: True))
            with pytest.raises(RetrainStopped, match="injected failure"):
                retrain(on_b, instance)
        decision = decide(instance, *(defs.resources[name] for name in DECISION_RESOURCES), 42)
        assert decision.needed, decision.reason
        result = retrain(on_b, instance, resume=True)
        assert defs.resources["training_files"].current().data_version == new_version
        assert latest_metadata(instance, "best_model")["data_fingerprint"] == new_version
        assert result.test_rows > 0
