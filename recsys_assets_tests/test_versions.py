"""Every model version kept and loadable; promotion and retention."""

import io
import json
from dataclasses import replace
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from recsys_assets.client import (
    VersionNotFound,
    load_best_model,
    load_model_version,
    model_versions,
    promote,
    remove_old_versions,
)
from recsys_assets.core.models.trained import model_bytes, model_from_bytes
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.automation import select_after_training
from recsys_assets.graph.history import latest_metadata
from recsys_assets.graph.records import pin, release_pin
from recsys_assets.retrain import retrain
from recsys_assets.settings import Settings
from recsys_assets_tests.conftest import write_search_space

SMALL = "[[config]]\nname = 'small'\nmin_count = 2\nepochs = 2\nvector_size = 8\n"
WIDE = "[[config]]\nname = 'wide'\nmin_count = 2\nepochs = 2\nvector_size = 16\nwindow = 10\n"


@pytest.fixture
def two_retrains(small_settings: Settings, tmp_path: Path):
    """Two retrains with different configs in one instance; yields the instance and settings."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = replace(small_settings, search_space_path=write_search_space(tmp_path / "a", SMALL))
    second = replace(small_settings, search_space_path=write_search_space(tmp_path / "b", WIDE))
    with dg.instance_for_test() as instance:
        retrain(first, instance)
        retrain(second, instance)
        yield instance, small_settings


def test_each_materialization_keeps_its_own_loadable_file(two_retrains):
    instance, settings = two_retrains
    newest, oldest = model_versions("best_model", instance=instance)
    assert (newest["winner"], oldest["winner"]) == ("wide", "small")
    assert newest["path"] != oldest["path"] and all(Path(row["path"]).exists() for row in (newest, oldest))
    assert load_model_version(oldest["version"][:8], instance=instance).config_key == "small"
    assert load_model_version(newest["version"], instance=instance).config_key == "wide"
    assert load_best_model(instance, settings).config_key == "wide"
    assert settings.models_dir.joinpath("best_model.npz").read_bytes() == Path(newest["path"]).read_bytes()
    (trained,) = model_versions("embedding_model", "small", instance)
    assert load_model_version(trained["version"], "embedding_model", "small", instance).config_key == "small"
    with pytest.raises(VersionNotFound, match="no version"):
        load_model_version("ffffffff", instance=instance)


def test_promotion_serves_an_earlier_version_and_records_why(two_retrains):
    instance, settings = two_retrains
    oldest = model_versions("best_model", instance=instance)[-1]
    promote(oldest["version"][:8], "roll back after a bad A/B test", instance, settings)
    assert load_best_model(instance, settings).config_key == "small"
    served = latest_metadata(instance, "best_model")
    assert (served["reason"], served["promoted_from"], served["winner"]) == (
        "roll back after a bad A/B test",
        oldest["version"],
        "small",
    )
    promoted = model_versions("best_model", instance=instance)[0]
    assert promoted["version"] == f"promoted {oldest['version'][:8]}"
    assert promoted["test_hit_rate"] == oldest["test_hit_rate"], "its test result, not '-'"

    deleted = remove_old_versions(1, instance, settings)
    assert Path(oldest["path"]).exists(), "the served version is never deleted"
    assert all(path.exists() is False for path in deleted)
    kept = sorted(path.name for path in (settings.models_dir / "versions").rglob("*.npz"))
    assert len(kept) == 4, "best_model: newest and promoted; each config: its one version"


def test_a_model_file_of_the_previous_format_still_loads(two_retrains):
    instance, settings = two_retrains
    model = load_best_model(instance, settings)
    with np.load(io.BytesIO(model_bytes(model))) as archive:
        manifest = json.loads(archive["manifest"].tobytes().decode())
        vectors = archive["vectors"]
    manifest["format_version"] = 2
    manifest["keys"] = model.fitted.vectors.index_to_key
    manifest["counts"] = [int(count) for count in model.fitted.vectors.expandos["count"]]
    manifest["strategy"] = {"query": "last", "last_n": 3, "cold_start": "random"}
    del manifest["learning_curve"]
    old = io.BytesIO()
    np.savez(old, vectors=vectors, manifest=np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))
    loaded = model_from_bytes(old.getvalue(), "old.npz")
    assert loaded.strategy.successors_first is False and loaded.learning_curve == {}
    assert np.array_equal(loaded.fitted.vectors.vectors, model.fitted.vectors.vectors)


def test_a_served_model_damaged_in_place_leaves_its_version_whole_and_is_rebuilt(
    small_settings: Settings, tmp_path: Path, monkeypatch, capsys
):
    from recsys_assets.cli import main

    settings = replace(small_settings, search_space_path=write_search_space(tmp_path, SMALL))
    with dg.instance_for_test() as instance:
        retrain(settings, instance)
        version = Path(latest_metadata(instance, "best_model")["path"])
        kept = version.read_bytes()
        served = settings.models_dir / "best_model.npz"
        with open(served, "r+b") as file:
            file.write(b"\0" * 64)
        assert version.read_bytes() == kept, "the version kept for good is another file"
        monkeypatch.setattr("recsys_assets.settings.load_settings", lambda: settings)
        capsys.readouterr()
        assert main(["recommend", "anything|||at all"]) == 1
        error = capsys.readouterr().err
        assert f"error: {served}: not a model file" in error and "recsys-assets promote" in error
        retrain(settings, instance)
        said = capsys.readouterr().out
        assert "The served model file is damaged" in said
        assert f"its kept version {version} is served again" in said
        assert served.read_bytes() == kept
        assert load_best_model(instance, settings).config_key == "small"


def test_a_prefix_of_two_run_ids_is_refused_as_ambiguous(monkeypatch):
    import recsys_assets.client as client

    rows = [
        {"version": "abcdef01" + "1" * 24, "path": "/m/new.npz"},
        {"version": "abcdef01" + "2" * 24, "path": "/m/old.npz"},
    ]
    monkeypatch.setattr(client, "model_versions", lambda *args: rows)
    with pytest.raises(VersionNotFound, match="'abcdef01' is the start of 2 run ids"):
        client.load_model_version("abcdef01")
    monkeypatch.setattr(client, "read_model", lambda path, fingerprint=None: path)
    assert client.load_model_version("abcdef012") == "/m/old.npz"


def test_a_promoted_version_stays_served_until_released_or_retrained(two_retrains, capsys):
    instance, settings = two_retrains
    defs = build_definitions(settings)
    oldest = model_versions("best_model", instance=instance)[-1]
    promote(oldest["version"][:8], "a broken week", instance, settings)
    assert pin(instance).version == oldest["version"]
    assert model_versions("best_model", instance=instance)[0]["pinned"] is True

    skipped = select_after_training(dg.build_sensor_context(instance=instance, definitions=defs))
    assert isinstance(skipped, dg.SkipReason) and "pinned" in skipped.skip_message
    refused = defs.resolve_job_def("select_best_model").execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert not refused.success and "promote --release" in str(refused.all_events)
    assert latest_metadata(instance, "best_model")["promoted_from"] == oldest["version"]

    retrain(settings, instance)
    assert "Unpinned: best_model is pinned to version" in capsys.readouterr().out
    assert pin(instance) is None
    assert "pinned" not in model_versions("best_model", instance=instance)[0]


def test_releasing_a_pin_lets_selections_choose_again(two_retrains):
    instance, settings = two_retrains
    newest = model_versions("best_model", instance=instance)[0]
    promote(newest["version"], "hold it", instance, settings)
    assert release_pin(instance).version == newest["version"]
    assert pin(instance) is None and release_pin(instance) is None
    defs = build_definitions(settings)
    assert defs.resolve_job_def("select_best_model").execute_in_process(instance=instance).success
