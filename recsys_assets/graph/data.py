"""Data assets: the playlist table and its train / validate / test splits, built together in DuckDB."""

import dagster as dg
import duckdb
from pydantic import Field

from recsys_assets.core.data.playlists import (
    SPLIT_TABLES,
    PlaylistTableStats,
    build_playlist_tables,
    length_and_popularity,
    preview_rows,
)
from recsys_assets.core.data.training_files import DataBuild
from recsys_assets.graph.history import CODE_VERSION_TAG, DATA_VERSION_TAG
from recsys_assets.graph.owners import ASSET_OWNERS
from recsys_assets.graph.plots import playlist_distributions
from recsys_assets.graph.resources import PlaylistDatabase, PlaylistSource, SplitFiles, TrainingFiles
from recsys_assets.graph.versions import DATA_CODE_VERSION

PREVIEW_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("playlist_id", "string"),
        dg.TableColumn("tracks", "int"),
        dg.TableColumn("first_tracks", "string"),
        dg.TableColumn("track_test_y", "string"),
    ]
)


DEFAULT_SPLIT_SEED = 42


class SplitConfig(dg.Config):
    seed: int = Field(
        default=DEFAULT_SPLIT_SEED, description="Seed of the shuffle that assigns playlists to splits."
    )


def _preview(database: PlaylistDatabase, table: str) -> dg.TableMetadataValue:
    with database.get_connection() as conn:
        rows = preview_rows(conn, table)
    return dg.MetadataValue.table([dg.TableRecord(row) for row in rows], schema=PREVIEW_SCHEMA)


def _playlists_metadata(
    stats: PlaylistTableStats, source: PlaylistSource, database: PlaylistDatabase, fingerprint: str
) -> dict[str, object]:
    with database.get_connection() as conn:
        lengths, plays = length_and_popularity(conn)
    return {
        "source": dg.MetadataValue.path(str(stats.source.path)),
        "source_fingerprint": fingerprint,
        "source_format": stats.source.kind,
        "demo_data": source.is_demo,
        "sample_fraction": source.sample_fraction,
        "malformed_lines_skipped": stats.source.malformed_lines,
        "malformed_line_examples": dg.MetadataValue.md(
            "\n".join(f"- `{example}`" for example in stats.source.malformed_examples) or "none"
        ),
        "rows_with_null_dropped": stats.null_rows,
        "distinct_rows": stats.rows,
        "distinct_users": stats.users,
        "distinct_tracks": stats.tracks,
        "distinct_playlists": stats.playlists,
        "distinct_artists": stats.artists,
        "rows_kept": stats.rows_kept,
        "dagster/row_count": stats.playlists_kept,
        "preview": _preview(database, "playlists"),
        "distributions": dg.MetadataValue.md(playlist_distributions(lengths, plays)),
    }


def _built(context: dg.AssetExecutionContext, key: str, data_version: dg.DataVersion, metadata: dict):
    """The record of one table of the build: its result when the run selected it, else a
    materialization logged beside the selected ones (the build replaces every table at once)."""
    if dg.AssetKey(key) in context.selected_asset_keys:
        yield dg.MaterializeResult(asset_key=key, metadata=metadata, data_version=data_version)
    else:
        yield dg.AssetMaterialization(
            asset_key=key,
            description="Rebuilt with the tables selected in this run: the data is built as one unit.",
            metadata=metadata,
            tags={DATA_VERSION_TAG: data_version.value, CODE_VERSION_TAG: DATA_CODE_VERSION},
        )


@dg.multi_asset(
    can_subset=True,
    specs=[
        dg.AssetSpec(
            "playlists",
            group_name="data",
            owners=ASSET_OWNERS,
            kinds={"duckdb"},
            code_version=DATA_CODE_VERSION,
            description="One row per playlist (user_id-playlist) with its tracks (artist|||track) in"
            " file order, the sequence without its last track and the last track; playlists of 3"
            " or more tracks.",
        ).with_io_manager_key("table_io_manager"),
        *(
            dg.AssetSpec(
                table,
                deps=["playlists"],
                group_name="data",
                owners=ASSET_OWNERS,
                code_version=DATA_CODE_VERSION,
                kinds={"duckdb"},
                description=f"The {share} share of playlists, by a seeded shuffle in playlist_id order.",
            ).with_io_manager_key("table_io_manager")
            for table, share in zip(SPLIT_TABLES, ("70 %", "20 %", "10 %"), strict=True)
        ),
        dg.AssetSpec(
            "training_statistics",
            deps=["train_playlists"],
            group_name="data",
            owners=ASSET_OWNERS,
            code_version=DATA_CODE_VERSION,
            kinds={"parquet"},
            description="The train split counted once per data build: plays per track, transitions"
            " between tracks, and the corpus file every Word2Vec config trains from (each playlist"
            " a line of integer track codes). Its record names the current data build: it is"
            " written last, so later steps never read half a build.",
        ).with_io_manager_key("training_statistics_io_manager"),
    ],
)
def playlist_tables(
    context: dg.AssetExecutionContext,
    config: SplitConfig,
    playlist_db: PlaylistDatabase,
    playlist_source: PlaylistSource,
    split_files: SplitFiles,
    training_files: TrainingFiles,
):
    """The playlist table and its disjoint, complete 70/20/10 train / validate / test splits,
    replaced together in one transaction that also writes this data version's training files
    (and the splits as Parquet with object storage) before it commits; the record of the build
    comes last."""
    source = playlist_source.resolve()
    fingerprint = playlist_source.fingerprint()
    data_version = dg.DataVersion(playlist_source.data_version(config.seed, fingerprint))
    context.log.info(f"Building the playlist table and its splits from {source}")
    last_good = {current.data_version} if (current := training_files.current()) else set()

    def publish(conn: duckdb.DuckDBPyConnection) -> None:
        if playlist_source.fingerprint() != fingerprint:
            raise dg.Failure(
                f"{source} changed while it was read, so the tables built from it may match"
                " neither version; nothing was replaced. Build the data again once the file is"
                " written whole (write it elsewhere, then move it into place)."
            )
        if split_files.enabled:
            context.log.info(f"Writing the splits as Parquet to {split_files.url}")
            split_files.publish(conn, SPLIT_TABLES, data_version.value, keep=last_good)
        context.log.info(f"Writing the training files to {training_files.location(data_version.value)}")
        training_files.publish(conn, data_version.value, keep=last_good)

    with playlist_db.get_connection() as conn:
        stats, sizes = build_playlist_tables(
            conn,
            source,
            seed=config.seed,
            sample_fraction=playlist_source.sample_fraction,
            sample_seed=playlist_source.sample_seed,
            data_version=data_version.value,
            before_commit=publish,
        )
    splits = (
        {table: split_files.location(table, data_version.value) for table in SPLIT_TABLES}
        if split_files.enabled
        else {}
    )
    build = DataBuild(data_version.value, training_files.location(data_version.value), splits)
    statistics = training_files.load(build.data_version)
    training_files.record(build)
    if stats.source.malformed_lines:
        context.log.warning(f"Skipped {stats.source.malformed_lines} malformed line(s) of {source}")
    yield from _built(
        context,
        "playlists",
        data_version,
        _playlists_metadata(stats, playlist_source, playlist_db, fingerprint),
    )
    for table, rows in sizes.items():
        metadata = {
            **({"parquet": dg.MetadataValue.path(splits[table])} if splits else {}),
            "dagster/row_count": rows,
            "seed": config.seed,
            "preview": _preview(playlist_db, table),
        }
        yield from _built(context, table, data_version, metadata)
    metadata = {
        "training_files": dg.MetadataValue.path(build.training_location),
        "tracks": len(statistics.tracks),
        "distinct_transitions": len(statistics.successors.followers),
        "plays": int(statistics.plays.sum()),
    }
    yield from _built(context, "training_statistics", data_version, metadata)
