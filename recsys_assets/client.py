"""Trained models from the Dagster instance, for use in Python (as the seed's Metaflow client):
the served best model, any version of any model, promotion and version cleanup."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from recsys_assets.core.models.trained import TrainedModel, best_first_key, read_model
from recsys_assets.core.storage.files import is_local, local_path, publish, versions_to_delete
from recsys_assets.core.storage.fingerprint import file_fingerprint
from recsys_assets.core.storage.model_locations import MODEL_EXTENSION, versions_location
from recsys_assets.graph.history import (
    MODEL_FILE_FINGERPRINT,
    MODEL_FINGERPRINT,
    latest_metadata,
    metadata_values,
)
from recsys_assets.graph.partitions import model_configs
from recsys_assets.graph.records import pin, set_pin
from recsys_assets.graph.serving import read_served_model
from recsys_assets.settings import Settings, load_settings

SHOWN_METRICS = (
    "winner",
    "config_key",
    "strategy",
    "validation_hit_rate",
    "promoted_from",
    "reason",
    MODEL_FINGERPRINT,
    MODEL_FILE_FINGERPRINT,
)


class VersionNotFound(LookupError):
    """No materialization of the model matches the version asked for."""


def load_best_model(
    instance: dg.DagsterInstance | None = None, settings: Settings | None = None
) -> TrainedModel:
    """The current `best_model`: vectors, config, strategy and validation metrics."""
    return load_model_version("latest", "best_model", instance=instance, settings=settings)


def model_versions(
    asset: str = "best_model", partition: str | None = None, instance: dg.DagsterInstance | None = None
) -> list[dict[str, Any]]:
    """Every version of a model asset (or one config partition), newest first: the run id that
    materialized it, time, file and validation result. A selection that chose the very model of
    the version before it is no new version: it counts in that version's `chosen_again`."""
    instance = instance or dg.DagsterInstance.get()
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None
        ),
        limit=1000,
    ).records
    tested = _test_hit_rates(instance) if asset == "best_model" else {}
    pinned = pin(instance) if asset == "best_model" else None
    rows: list[dict[str, Any]] = []
    for record in reversed(records):
        metadata = metadata_values(record)
        fingerprint = metadata.get(MODEL_FINGERPRINT)
        chosen_again = (
            rows and "promoted_from" not in metadata and rows[-1].get(MODEL_FINGERPRINT) == fingerprint
        )
        if fingerprint and chosen_again:
            rows[-1]["chosen_again"] = rows[-1].get("chosen_again", 0) + 1
            continue
        rows.append(
            {
                "version": record.run_id or f"promoted {str(metadata.get('promoted_from'))[:8]}",
                "materialized_at": datetime.fromtimestamp(record.timestamp, tz=UTC).isoformat(
                    timespec="seconds"
                ),
                "path": metadata.get("path"),
                **{name: metadata[name] for name in SHOWN_METRICS if name in metadata},
            }
        )
        if pinned is not None and metadata.get("promoted_from") == pinned.version:
            rows[-1]["pinned"] = True
        test_hit_rate = tested.get(fingerprint) or tested.get(record.run_id)
        if test_hit_rate is not None:
            rows[-1]["test_hit_rate"] = test_hit_rate
    return rows[::-1]


def _test_hit_rates(instance: dg.DagsterInstance) -> dict[str, float]:
    """The test hit rate of each evaluated model, by its fingerprint and by the run that
    evaluated it (records before fingerprints were kept)."""
    records = instance.fetch_materializations(dg.AssetKey("test_evaluation"), limit=1000).records
    rates: dict[str, float] = {}
    for record in reversed(records):
        metadata = metadata_values(record)
        if "test_hit_rate" in metadata:
            for key in (metadata.get(MODEL_FINGERPRINT), record.run_id):
                if key:
                    rates[key] = metadata["test_hit_rate"]
    return rates


def load_model_version(
    version: str = "latest",
    asset: str = "best_model",
    partition: str | None = None,
    instance: dg.DagsterInstance | None = None,
    settings: Settings | None = None,
) -> TrainedModel:
    """A model as of a version: "latest" (the one served now), or the run id (or its first 8 or
    more characters) of the run that materialized it. Its file must be the one recorded (its
    content fingerprint), else NotTheChosenModel; DamagedModelFile where it does not read whole."""
    if version == "latest":
        models = (settings or load_settings()).models_location
        return read_served_model(instance or dg.DagsterInstance.get(), models, asset, partition)
    row = _version_row(version, asset, partition, instance)
    return read_model(row["path"], row.get(MODEL_FILE_FINGERPRINT))


def _version_row(
    version: str, asset: str, partition: str | None, instance: dg.DagsterInstance | None
) -> dict[str, Any]:
    if len(version) < 8:
        raise VersionNotFound(f"version {version!r}: give at least the first 8 characters of a run id")
    matching = [
        row
        for row in model_versions(asset, partition, instance)
        if row["version"].startswith(version) and "promoted_from" not in row and row.get("path")
    ]
    if len(matching) > 1:
        raise VersionNotFound(
            f"version {version!r} is the start of {len(matching)} run ids"
            f" ({', '.join(row['version'] for row in matching)}): give more characters"
        )
    if not matching:
        raise VersionNotFound(f"no version {version!r} of {asset}{f' [{partition}]' if partition else ''}")
    return matching[0]


def promote(
    version: str, reason: str, instance: dg.DagsterInstance | None = None, settings: Settings | None = None
) -> TrainedModel:
    """Serve an earlier `best_model` version again, recorded as a materialization with `reason`,
    and pin it: no selection replaces it until `release_pin` or an explicit retrain."""
    instance = instance or dg.DagsterInstance.get()
    settings = settings or load_settings()
    row = _version_row(version, "best_model", None, instance)
    model = read_model(row["path"], row.get(MODEL_FILE_FINGERPRINT))
    if not is_local(settings.models_location):
        raise NotImplementedError("promotion writes local model files; models are at a URL")
    content = row.get(MODEL_FILE_FINGERPRINT) or file_fingerprint(Path(local_path(row["path"])))
    publish(Path(local_path(row["path"])), Path(local_path(settings.best_model_location)))
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key="best_model",
            description=f"Promoted version {row['version']}: {reason}",
            metadata={
                "path": dg.MetadataValue.path(row["path"]),
                "promoted_from": row["version"],
                MODEL_FILE_FINGERPRINT: content,
                MODEL_FINGERPRINT: model.summary().fingerprint,
                "reason": reason,
                "winner": model.config_key,
                "strategy": model.method,
                "validation_hit_rate": round(model.validation_hit_rate, 4),
                "pinned": True,
            },
        )
    )
    set_pin(instance, row["version"], model.config_key, reason)
    return model


def remove_old_versions(
    keep: int, instance: dg.DagsterInstance | None = None, settings: Settings | None = None
) -> list[Path]:
    """Delete the model version files beyond the `keep` newest of each model, never one that the
    latest materialization of an asset or config points at; return what was deleted."""
    instance = instance or dg.DagsterInstance.get()
    settings = settings or load_settings()
    if not is_local(settings.models_location):
        return []
    keys = instance.get_dynamic_partitions(model_configs.name)
    latest = [latest_metadata(instance, "best_model")]
    latest += [latest_metadata(instance, "embedding_model", key) for key in keys]
    referenced = {Path(metadata["path"]).resolve() for metadata in latest if metadata.get("path")}
    deleted = []
    versions = Path(local_path(versions_location(settings.models_location)))
    for folder in {path.parent for path in versions.rglob(f"*{MODEL_EXTENSION}")}:
        for path in versions_to_delete(list(folder.glob(f"*{MODEL_EXTENSION}")), keep, referenced):
            path.unlink()
            deleted.append(path)
    return deleted


def trained_models(instance: dg.DagsterInstance | None = None) -> list[dict[str, Any]]:
    """Each registered config with the metadata of its latest training, best first."""
    instance = instance or dg.DagsterInstance.get()
    winner = latest_metadata(instance, "best_model").get("winner")
    rows = []
    for key in instance.get_dynamic_partitions(model_configs.name):
        metadata = latest_metadata(instance, "embedding_model", key)
        rows.append({**metadata, "config_key": key, "trained": bool(metadata), "best": key == winner})
    return sorted(
        rows, key=lambda row: best_first_key(row.get("validation_hit_rate", -1.0), row["config_key"])
    )
