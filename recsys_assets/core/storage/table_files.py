"""Playlist tables as Parquet files, local or behind any fsspec URL."""

from __future__ import annotations

from pathlib import Path

import duckdb
import fsspec
import pandas as pd
import pyarrow.parquet as pq


def export_table(conn: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    """Write `table` to the Parquet file `path`, its rows in playlist_id order."""
    quoted = str(path).replace("'", "''")
    conn.execute(f"COPY (SELECT * FROM {table} ORDER BY playlist_id) TO '{quoted}' (FORMAT parquet)")


def read_table_file(location: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A table written by `export_table`, from a local path or any fsspec URL, with `columns`
    (all when None) in the file's order."""
    with fsspec.open(location, "rb") as file:
        return pq.read_table(file, columns=columns).to_pandas()
