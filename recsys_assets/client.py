"""Trained models from the Dagster instance, for use in Python (as the seed's Metaflow client)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from recsys_assets.core.model import TrainedModel
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.partitions import model_configs
from recsys_assets.settings import Settings, load_settings


def load_best_model(
    instance: dg.DagsterInstance | None = None, settings: Settings | None = None
) -> TrainedModel:
    """The current `best_model`: vectors, config, strategy and validation metrics."""
    defs = build_definitions(settings or load_settings())
    return defs.load_asset_value("best_model", instance=instance or dg.DagsterInstance.get())


def trained_models(instance: dg.DagsterInstance | None = None) -> list[dict[str, Any]]:
    """Each registered config with the metadata of its latest training, best first."""
    instance = instance or dg.DagsterInstance.get()
    best = instance.get_latest_materialization_event(dg.AssetKey("best_model"))
    winner = best.asset_materialization.metadata["winner"].value if best else None
    rows = []
    for key in instance.get_dynamic_partitions(model_configs.name):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("embedding_model"), asset_partitions=[key]), limit=1
        ).records
        metadata = (
            {name: value.value for name, value in records[0].asset_materialization.metadata.items()}
            if records
            else {}
        )
        rows.append({**metadata, "config_key": key, "trained": bool(records), "best": key == winner})
    return sorted(rows, key=lambda row: (-row.get("validation_hit_rate", -1.0), row["config_key"]))
