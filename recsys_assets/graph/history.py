"""What the Dagster instance recorded: latest materializations and their metadata, failed runs,
and which configs were trained on the latest data build. The CLI, the retrain driver and the
sensors all ask here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from recsys_assets.graph.jobs import train_models

DATA_ASSET = "train_playlists"
"""The asset whose materialization marks a data build (the splits every model trains on)."""
MODEL_ASSET = "embedding_model"
MODEL_FINGERPRINT = "model_fingerprint"
"""Metadata of best_model and test_evaluation: which trained model they chose and evaluated."""
MODEL_FILE_FINGERPRINT = "model_file_fingerprint"
"""Metadata of every model materialization (and promotion): the content fingerprint of the file
written, which the served file must still have to be served or to let a retrain skip."""
DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"


def latest_materialization(
    instance: dg.DagsterInstance, asset: str, partition: str | None = None
) -> dg.EventLogRecord | None:
    """The latest materialization record of an asset, or of one of its partitions, if any."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None
        ),
        limit=1,
    ).records
    return records[0] if records else None


def metadata_values(record: dg.EventLogRecord) -> dict[str, Any]:
    """The plain values of a materialization record's metadata."""
    return {name: value.value for name, value in record.asset_materialization.metadata.items()}


def latest_data_version(instance: dg.DagsterInstance, asset: str) -> str | None:
    """The data version of the asset's latest materialization, if it has one."""
    record = latest_materialization(instance, asset)
    return record.asset_materialization.tags.get(DATA_VERSION_TAG) if record else None


def latest_metadata(instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> dict[str, Any]:
    """The metadata values of the latest materialization, or {} when there is none."""
    record = latest_materialization(instance, asset, partition)
    return metadata_values(record) if record else {}


def latest_data_build(instance: dg.DagsterInstance) -> dg.EventLogRecord | None:
    """The latest materialization of the splits the models train on."""
    return latest_materialization(instance, DATA_ASSET)


def latest_good_data_build(instance: dg.DagsterInstance) -> dg.EventLogRecord | None:
    """The latest data build, if its run succeeded (its blocking checks passed) and it holds
    rows; None when there is no build that later stages may keep."""
    data = latest_data_build(instance)
    if data is None:
        return None
    run = instance.get_run_by_id(data.run_id)
    if run is None or run.status != dg.DagsterRunStatus.SUCCESS:
        return None
    return data if metadata_values(data).get("dagster/row_count") else None


def trained_on(model: dg.EventLogRecord | None, data: dg.EventLogRecord) -> bool:
    """Whether a config's model record comes after (so was trained on) the data build."""
    return model is not None and model.timestamp >= data.timestamp


def training_failed_since(instance: dg.DagsterInstance, key: str, timestamp: float) -> bool:
    """Whether the latest training run of config `key` since `timestamp` failed."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=train_models.name,
            tags={"dagster/partition": key},
            created_after=datetime.fromtimestamp(timestamp, tz=UTC),
        ),
        limit=1,
    )
    return bool(runs) and runs[0].status == dg.DagsterRunStatus.FAILURE
