"""Trained models from the Dagster instance, for use in Python (as the seed's Metaflow client)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from recsys_assets.core.model import TrainedModel
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.history import latest_metadata
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
    winner = latest_metadata(instance, "best_model").get("winner")
    rows = []
    for key in instance.get_dynamic_partitions(model_configs.name):
        metadata = latest_metadata(instance, "embedding_model", key)
        rows.append({**metadata, "config_key": key, "trained": bool(metadata), "best": key == winner})
    return sorted(rows, key=lambda row: (-row.get("validation_hit_rate", -1.0), row["config_key"]))
