"""IO managers: playlist tables read from DuckDB or their Parquet files, the current data build's
training statistics, and model files on a local or remote path."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from upath import UPath

from recsys_assets.core.data.playlists import SPLIT_TABLES, recorded_data_version, table_exists
from recsys_assets.core.data.training_files import DataBuild
from recsys_assets.core.evaluation.reports import Report, report_from_json, report_json
from recsys_assets.core.models.config import is_valid_config_key
from recsys_assets.core.models.trained import (
    ConfigModels,
    TrainedModel,
    model_bytes,
    read_model,
    summary_if_present,
)
from recsys_assets.core.storage.files import is_local, publish, write_bytes_atomically
from recsys_assets.core.storage.fingerprint import bytes_fingerprint
from recsys_assets.core.storage.model_locations import (
    MODEL_EXTENSION,
    model_version_location,
    served_model_location,
)
from recsys_assets.graph.history import MODEL_FILE_FINGERPRINT
from recsys_assets.graph.resources import (
    RETRAIN_HINT,
    PlaylistDatabase,
    SplitFiles,
    StoredTrainingData,
    TrainingFiles,
)

REBUILD_HINT = f"rebuild the data (`dg launch --job prepare_data`) or {RETRAIN_HINT}"


class PlaylistTableIOManager(dg.ConfigurableIOManager):
    """Loads a playlist table as a DataFrame; its asset writes the table inside DuckDB (and the
    splits as Parquet files, when `split_files` has a folder: then the splits are read from the
    files the current data build names).

    An input may ask for some columns only with `AssetIn(metadata={"columns": [...]})`.
    """

    database: PlaylistDatabase
    split_files: SplitFiles
    training_files: TrainingFiles

    def handle_output(self, context: dg.OutputContext, obj: None) -> None:
        if obj is not None:
            raise TypeError(f"{context.asset_key.to_user_string()} writes its table itself; return None")

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = context.asset_key.path[-1]
        columns = (context.definition_metadata or {}).get("columns")
        if self.split_files.enabled and table in SPLIT_TABLES:
            return self._read_file(table, self.training_files.current(), columns)
        selected = ", ".join(f'"{column}"' for column in columns) if columns else "*"
        missing = dg.Failure(
            f"Table {table!r} is missing from {self.database.database}: materialize the data"
            f" assets (playlists, train/validate/test_playlists) or {RETRAIN_HINT}."
        )
        try:
            with self.database.read_connection() as conn:
                if not table_exists(conn, table):
                    raise missing
                self._check_build(conn)
                frame = conn.execute(f"SELECT {selected} FROM {table} ORDER BY playlist_id").fetch_df()
        except FileNotFoundError:
            raise missing from None
        if frame.empty:
            raise dg.Failure(
                f"Table {table!r} in {self.database.database} is empty: rebuild the data assets"
                f" (playlists, train/validate/test_playlists) or {RETRAIN_HINT}."
            )
        return frame

    def _check_build(self, conn: duckdb.DuckDBPyConnection) -> None:
        """A Failure when the tables are not those of the recorded data build (one was cut off
        between its commit and its record)."""
        build = self.training_files.current()
        if build is None:
            raise dg.Failure(f"No data build is recorded under {self.training_files.url}: {REBUILD_HINT}.")
        tables = recorded_data_version(conn)
        if tables != build.data_version:
            raise dg.Failure(
                f"The playlist tables in {self.database.database} (data version {tables}) are not those"
                f" of the recorded data build ({build.data_version}): a data build was cut off;"
                f" {REBUILD_HINT}."
            )

    def _read_file(self, table: str, build: DataBuild | None, columns: list[str] | None) -> pd.DataFrame:
        if build is None or table not in build.split_locations:
            raise dg.Failure(f"Table {table!r} has no split file in the current data build: {REBUILD_HINT}.")
        location = build.split_locations[table]
        try:
            frame = self.split_files.read(location, columns)
        except FileNotFoundError:
            raise dg.Failure(
                f"Split file {location} is missing: materialize the data assets (playlists,"
                f" train/validate/test_playlists) or {RETRAIN_HINT}."
            ) from None
        if frame.empty:
            raise dg.Failure(f"Split file {location} is empty: rebuild the data assets or {RETRAIN_HINT}.")
        return frame


class TrainingStatisticsIOManager(dg.ConfigurableIOManager):
    """The `training_statistics` asset: its data step publishes a build's training files and
    then records the `DataBuild` as current (last, so readers never see half a build); an input
    gets the current build's statistics and corpus."""

    training_files: TrainingFiles

    def handle_output(self, context: dg.OutputContext, obj: None) -> None:
        if obj is not None:
            raise TypeError("training_statistics records its data build itself; return None")

    def load_input(self, context: dg.InputContext) -> StoredTrainingData:
        build = self.training_files.current()
        if build is None:
            raise dg.Failure(f"No data build is recorded under {self.training_files.url}: {REBUILD_HINT}.")
        statistics = self.training_files.load(build.data_version)
        if statistics is None:
            raise dg.Failure(
                f"No training statistics are stored for the current data build under"
                f" {build.training_location}: {REBUILD_HINT}."
            )
        return StoredTrainingData(build, statistics, self.training_files)


class ModelFiles(dg.UPathIOManager):
    """Stores every materialization's model as its own .npz file,
    `<base>/versions/<asset>[/<partition>]/<run id>.npz` (the `path` in its metadata, for good),
    and serves the latest from `<base>/<asset>/<partition>.npz` or `<base>/<asset>.npz`.

    Local files are written to a temporary name and renamed, the latest as a copy of its
    version; an object store writes each object whole. An unpartitioned asset reading every
    partition gets `ConfigModels`: the summaries of the trained ones (read from each file's
    manifest), the registered keys without a file, and a loader for one model whole.
    """

    extension = MODEL_EXTENSION

    def __init__(self, base: str) -> None:
        super().__init__(base_path=UPath(base))
        self.base = base
        self._written: dict[str, str] = {}
        """The content fingerprint of each version file this run wrote, by its location."""

    def make_safe_partition_path(self, base_path: UPath, partition: str) -> UPath:
        if not is_valid_config_key(partition):
            raise dg.Failure(
                f"Partition key {partition!r} is not a config key (1-100 letters, digits, '.', '_', '='"
                " or '-'), so it names no model file; remove it from the model_configs partitions"
                " (the register_configs sensor and `recsys-assets retrain` remove keys not in the"
                " search space)."
            )
        return base_path / partition

    def version_path(self, context: dg.OutputContext) -> UPath:
        """Where this run's model of the output's asset (and partition) is kept for good."""
        partition = None
        if context.has_asset_partitions:
            partition = self.make_safe_partition_path(UPath(self.base), context.partition_key).name
        return UPath(model_version_location(self.base, context.asset_key.path[-1], partition, context.run_id))

    def dump_to_path(self, context: dg.OutputContext, obj: TrainedModel, path: UPath) -> None:
        version = self.version_path(context)
        data = model_bytes(obj)
        if is_local(str(path)):
            write_bytes_atomically(Path(version.path), data)
            publish(Path(version.path), Path(path.path))
        else:
            version.parent.mkdir(parents=True, exist_ok=True)
            version.write_bytes(data)
            path.write_bytes(data)
        self._written[str(version)] = bytes_fingerprint(data)

    def get_metadata(self, context: dg.OutputContext, obj: TrainedModel) -> dict[str, dg.RawMetadataValue]:
        version = str(self.version_path(context))
        return {
            "path": dg.MetadataValue.path(version),
            MODEL_FILE_FINGERPRINT: self._written.pop(version),
        }

    def load_from_path(self, context: dg.InputContext, path: UPath) -> TrainedModel:
        return read_model(str(path))

    def load_input(self, context: dg.InputContext) -> TrainedModel | ConfigModels:
        asset = context.asset_key.to_user_string()
        if context.has_asset_partitions and not context.has_partition_key:
            keys = list(context.asset_partition_keys)
            if not keys:
                raise dg.Failure(f"No config partitions of {asset!r} are registered: {RETRAIN_HINT}.")
            paths = {
                key: UPath(
                    served_model_location(
                        self.base,
                        context.asset_key.path[-1],
                        self.make_safe_partition_path(UPath(self.base), key).name,
                    )
                )
                for key in keys
            }
            summaries = {key: summary for key in keys if (summary := summary_if_present(str(paths[key])))}
            return ConfigModels(
                summaries=summaries,
                untrained=[key for key in keys if key not in summaries],
                load=lambda key: self.load_from_path(context, paths[key]),
            )
        try:
            return super().load_input(context)
        except FileNotFoundError as error:
            what = f"{asset} partition {context.partition_key!r}" if context.has_partition_key else asset
            raise dg.Failure(
                f"{what} has not been materialized (no {error.filename}): {RETRAIN_HINT}."
            ) from None


class ModelIOManager(dg.ConfigurableIOManagerFactory):
    """Model files under `base_dir`: a local path or any fsspec URL (s3://, gs://, memory://)."""

    base_dir: str

    def create_io_manager(self, context: dg.InitResourceContext) -> ModelFiles:
        return ModelFiles(self.base_dir)


class AssetValueFiles(dg.UPathIOManager):
    """Other asset values (the baselines' and the test evaluation's reports) as JSON under
    `<base>/<asset>`: written whole (locally through a temporary file), and a missing one fails
    saying what to run. A value pickled before reports were JSON still loads, once."""

    def dump_to_path(self, context: dg.OutputContext, obj: Report, path: UPath) -> None:
        data = report_json(obj).encode("utf-8")
        if is_local(str(path)):
            write_bytes_atomically(Path(path.path), data)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Report:
        data = path.read_bytes()
        if data.startswith(pickle.PROTO):
            return _LegacyReportUnpickler(io.BytesIO(data)).load()
        return report_from_json(data.decode("utf-8", errors="replace"), str(path))

    def load_input(self, context: dg.InputContext) -> object:
        try:
            return super().load_input(context)
        except FileNotFoundError:
            asset = context.asset_key.to_user_string()
            raise dg.Failure(
                f"{asset} has not been materialized: `dg launch --assets {asset}` or {RETRAIN_HINT}."
            ) from None


class _LegacyReportUnpickler(pickle.Unpickler):
    """Reads a report pickled before the core had folders, when the reports lived in
    `recsys_assets.core.evaluation`; nothing else may be unpickled."""

    def find_class(self, module: str, name: str) -> type:
        if module == "recsys_assets.core.evaluation" and name in ("BaselineResults", "TestEvaluation"):
            return super().find_class("recsys_assets.core.evaluation.reports", name)
        raise pickle.UnpicklingError(f"a stored asset value names {module}.{name}, which is not a report")


class AssetValueIOManager(dg.ConfigurableIOManagerFactory):
    """Asset values under `base_dir`: a local path or any fsspec URL."""

    base_dir: str

    def create_io_manager(self, context: dg.InitResourceContext) -> AssetValueFiles:
        return AssetValueFiles(base_path=UPath(self.base_dir))
