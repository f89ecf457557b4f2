"""The whole retrain against an S3-compatible server on this machine (moto's server mode): models,
splits, asset values and the search's trials live on the object store, and training, selection and
evaluation need no local file of the data build."""

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import boto3
import dagster as dg
import duckdb
import pytest
from moto.server import ThreadedMotoServer

from recsys_assets.client import load_best_model
from recsys_assets.core.data.demo_data import write_demo_rows
from recsys_assets.core.data.playlists import SPLIT_TABLES
from recsys_assets.core.storage.files import upload
from recsys_assets.core.storage.table_files import export_table, read_table_file
from recsys_assets.definitions import build_definitions
from recsys_assets.graph import resources
from recsys_assets.graph.history import latest_data_version
from recsys_assets.retrain import retrain
from recsys_assets.settings import Settings, load_settings
from recsys_assets_tests.conftest import SMALL_SPEC, write_search_space
from recsys_assets_tests.test_search import FIXED, SEARCH

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3 server on a free loopback port, with fake credentials in the environment."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {name: os.environ.get(name) for name in [*CREDENTIALS, "AWS_ENDPOINT_URL"]}
    os.environ.update({**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
    try:
        yield endpoint
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"recsys-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


def objects(endpoint: str, bucket: str) -> list[str]:
    listing = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_the_storage_url_places_models_splits_values_and_trials():
    settings = load_settings({"RECSYS_STORAGE_URL": "s3://bucket/recsys/"})
    assert settings.models_location == "s3://bucket/recsys/models"
    assert settings.splits_location == "s3://bucket/recsys/splits"
    assert settings.asset_values_location == "s3://bucket/recsys/assets"
    assert settings.search_results_location == "s3://bucket/recsys/search"
    local = load_settings({})
    assert local.splits_location is None and local.search_results_location is None
    assert local.models_location == str(local.models_dir)


def test_a_retrain_with_a_search_keeps_everything_on_the_object_store(
    s3_endpoint: str, bucket: str, small_rows: Path, tmp_path: Path
):
    hybrid = "[[config]]\nname = 'fused'\nmodel = 'hybrid'\nknn_k = 20\n"
    space = write_search_space(tmp_path, FIXED + hybrid + SEARCH.format(trials=2, pruner="none"))
    with dg.instance_for_test() as instance:
        settings = Settings(
            playlists_path=small_rows,
            data_dir=tmp_path / "build",
            search_space_path=space,
            storage_url=f"s3://{bucket}/recsys",
            study_url=f"sqlite:///{Path(instance.root_directory) / 'recsys_study.db'}",
        )
        result = retrain(settings, instance)

        stored = objects(s3_endpoint, bucket)
        assert "recsys/models/best_model.npz" in stored
        for config in ("fixed", "fused"):
            assert any(key.startswith(f"recsys/models/versions/embedding_model/{config}/") for key in stored)
        version = latest_data_version(instance, "train_playlists")
        assert {f"recsys/splits/{version}/{table}.parquet" for table in SPLIT_TABLES} <= set(stored)
        assert "recsys/assets/test_evaluation" in stored
        (trials,) = [key for key in stored if key.startswith("recsys/search/")]
        assert len(read_table_file(f"s3://{bucket}/{trials}")) >= 2, "every trial of the search"
        left_locally = {path.name for path in settings.data_dir.iterdir()}
        assert left_locally <= {"recsys.duckdb", "recsys.duckdb.wal", ".retrain.lock"}, left_locally

        train = read_table_file(f"{settings.splits_location}/{version}/train_playlists.parquet")
        assert train["playlist_id"].is_monotonic_increasing and len(train) > 100

        shutil.rmtree(settings.data_dir)
        elsewhere = replace(settings, data_dir=tmp_path / "training-pod")
        defs = build_definitions(elsewhere)
        for job, partition in [
            ("train_models", "fixed"),
            ("train_models", "fused"),
            ("select_best_model", None),
        ]:
            run = defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=partition)
            assert run.success, job
        assert not (tmp_path / "training-pod").exists(), "no DuckDB file, no local model or value"
        evaluation = defs.load_asset_value("test_evaluation", instance=instance)
        assert evaluation.test_rows == result.test_rows
        assert load_best_model(instance, elsewhere).config_key == evaluation.config_key


def test_training_before_any_data_build_says_what_to_run(
    s3_endpoint: str, bucket: str, small_settings: Settings
):
    settings = replace(small_settings, storage_url=f"s3://{bucket}/empty")
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("model_configs", ["wide-window"])
        run = defs.resolve_job_def("train_models").execute_in_process(
            instance=instance, partition_key="wide-window", raise_on_error=False
        )
    assert not run.success
    (failure,) = run.get_step_failure_events()
    assert re.search(r"No data build is recorded under", str(failure.step_failure_data.error))


def test_a_table_exported_and_uploaded_to_a_local_folder_reads_back_in_order(tmp_path: Path):
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('b', 2), ('a', 1)) rows(playlist_id, n)")
    local = tmp_path / "export.parquet"
    export_table(conn, "t", local)
    target = tmp_path / "splits" / "t.parquet"
    target.parent.mkdir()
    target.write_bytes(b"the previous file")
    upload(local, str(target))
    assert read_table_file(str(target), ["playlist_id"])["playlist_id"].tolist() == ["a", "b"]
    assert [path.name for path in target.parent.iterdir()] == ["t.parquet"], "no temporary file left"


def test_a_data_build_that_fails_while_publishing_leaves_the_last_good_splits_read(
    small_settings: Settings, small_rows: Path, tmp_path: Path, monkeypatch
):
    settings = replace(small_settings, storage_url=str(tmp_path / "store"))
    defs = build_definitions(settings)
    other = write_demo_rows(tmp_path / "other", replace(SMALL_SPEC, seed=6))
    with dg.instance_for_test() as instance:
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        good = latest_data_version(instance, "train_playlists")
        good_train = read_table_file(f"{settings.splits_location}/{good}/train_playlists.parquet")

        uploads = []

        def failing_second_upload(local: Path, location: str) -> None:
            uploads.append(location)
            if len(uploads) == 2:
                raise OSError("connection reset while uploading")
            upload(local, location)

        monkeypatch.setattr(resources, "upload", failing_second_upload)
        changed = build_definitions(replace(settings, playlists_path=other))
        failed = changed.resolve_job_def("prepare_data").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not failed.success and len(uploads) == 2, "the train split of the new build was written"
        assert latest_data_version(instance, "train_playlists") == good

        instance.add_dynamic_partitions("model_configs", ["wide-window"])
        trained = changed.resolve_job_def("train_models").execute_in_process(
            instance=instance, partition_key="wide-window"
        )
        assert trained.success, "the last good build's files are still there"
        train = read_table_file(f"{settings.splits_location}/{good}/train_playlists.parquet")
        assert train.equals(good_train)

        monkeypatch.setattr(resources, "upload", upload)
        changed.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        newest = latest_data_version(instance, "train_playlists")
        assert newest != good
        assert {path.name for path in Path(settings.splits_location).iterdir()} == {good, newest}
