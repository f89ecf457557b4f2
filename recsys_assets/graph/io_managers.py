"""IO managers: playlist tables read from DuckDB, and model files on a local or remote path."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
from upath import UPath

from recsys_assets.core.model import (
    ConfigModels,
    TrainedModel,
    load_model,
    model_bytes,
    model_from_bytes,
    save_model,
)
from recsys_assets.core.playlists import table_exists
from recsys_assets.graph.resources import PlaylistDatabase

LOCAL_PROTOCOLS = ("", "file", "local")
RETRAIN_HINT = "run `recsys-assets retrain` (or `make demo`) first"


class PlaylistTableIOManager(dg.ConfigurableIOManager):
    """Loads a playlist table as a DataFrame; its asset writes the table inside DuckDB.

    An input may ask for some columns only with `AssetIn(metadata={"columns": [...]})`.
    """

    database: PlaylistDatabase

    def handle_output(self, context: dg.OutputContext, obj: None) -> None:
        if obj is not None:
            raise TypeError(f"{context.asset_key.to_user_string()} writes its table itself; return None")

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = context.asset_key.path[-1]
        columns = (context.definition_metadata or {}).get("columns")
        selected = ", ".join(f'"{column}"' for column in columns) if columns else "*"
        missing = dg.Failure(
            f"Table {table!r} is missing from {self.database.database}: materialize the data"
            f" assets (playlists, train/validate/test_playlists) or {RETRAIN_HINT}."
        )
        try:
            with self.database.read_connection() as conn:
                if not table_exists(conn, table):
                    raise missing
                return conn.execute(f"SELECT {selected} FROM {table} ORDER BY playlist_id").fetch_df()
        except FileNotFoundError:
            raise missing from None


class ModelIOManager(dg.ConfigurableIOManager):
    """Stores each model as one .npz file: `<base_dir>/<asset>/<partition>.npz` or `<asset>.npz`.

    `base_dir` is a local path or any fsspec URL (s3://, gs://, memory://). Local files are
    written to a temporary name and renamed; an object store writes each object whole. An
    unpartitioned asset reading a partitioned one gets the `ConfigModels` of every partition.
    """

    base_dir: str

    def _path(self, asset: str, partition: str | None) -> UPath:
        base = UPath(self.base_dir)
        return base / asset / f"{partition}.npz" if partition else base / f"{asset}.npz"

    def _write(self, model: TrainedModel, path: UPath) -> None:
        if path.protocol in LOCAL_PROTOCOLS:
            save_model(model, Path(path.path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(model_bytes(model))

    def _read(self, path: UPath) -> TrainedModel:
        if path.protocol in LOCAL_PROTOCOLS:
            return load_model(Path(path.path))
        return model_from_bytes(path.read_bytes(), str(path))

    def handle_output(self, context: dg.OutputContext, obj: TrainedModel) -> None:
        partition = context.partition_key if context.has_asset_partitions else None
        path = self._path(context.asset_key.path[-1], partition)
        self._write(obj, path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> TrainedModel | ConfigModels:
        asset = context.asset_key.path[-1]
        if not context.has_asset_partitions:
            return self._load(asset, None)
        keys = list(context.asset_partition_keys)
        if context.has_partition_key and len(keys) == 1:
            return self._load(asset, keys[0])
        if not keys:
            raise dg.Failure(f"No config partitions of {asset!r} are registered: {RETRAIN_HINT}.")
        trained = [key for key in keys if self._path(asset, key).exists()]
        return ConfigModels(
            models={key: self._read(self._path(asset, key)) for key in trained},
            untrained=[key for key in keys if key not in trained],
        )

    def _load(self, asset: str, partition: str | None) -> TrainedModel:
        path = self._path(asset, partition)
        if not path.exists():
            what = f"{asset} partition {partition!r}" if partition else asset
            raise dg.Failure(f"{what} has not been materialized (no {path}): {RETRAIN_HINT}.")
        return self._read(path)
