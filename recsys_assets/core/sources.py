"""Playlist rows from a source file (the cleaned parquet or the raw Spotify CSV), checked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

SOURCE_COLUMNS = ("row_id", "user_id", "artist", "track", "playlist")
RAW_CSV_COLUMNS = ("user_id", "artistname", "trackname", "playlistname")
INTEGER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
}
MALFORMED_EXAMPLES = 3


class SourceDataError(ValueError):
    """A playlist source file that cannot be read as playlist rows."""


@dataclass(frozen=True)
class SourceRows:
    """What reading a source file into the temporary relation `source_rows` found."""

    path: Path
    kind: str
    malformed_lines: int
    malformed_examples: list[str]


def sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def open_source_rows(conn: duckdb.DuckDBPyConnection, path: Path) -> SourceRows:
    """Expose the file as `source_rows` (row_id, user_id, artist, track, playlist) on `conn`.

    A `.parquet` file must have the cleaned schema; a `.csv` file is the raw Spotify dump, whose
    malformed lines are skipped and reported, and whose file order becomes row_id.
    """
    if not path.is_file():
        raise SourceDataError(f"{path}: playlist source file not found")
    if path.stat().st_size == 0:
        raise SourceDataError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _open_parquet(conn, path)
    if suffix == ".csv":
        return _open_csv(conn, path)
    raise SourceDataError(
        f"{path}: expected a .parquet file (columns {', '.join(SOURCE_COLUMNS)}) or the raw .csv dump"
    )


def _open_parquet(conn: duckdb.DuckDBPyConnection, path: Path) -> SourceRows:
    relation = f"read_parquet({sql_string(str(path))})"
    try:
        types = dict(
            (name, kind) for name, kind, *_ in conn.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        )
    except duckdb.Error as error:
        raise SourceDataError(f"{path}: not a readable parquet file: {error}") from None
    missing = [column for column in SOURCE_COLUMNS if column not in types]
    if missing:
        raise SourceDataError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(SOURCE_COLUMNS)},"
            f" found {', '.join(types)}"
        )
    wrong = [
        f"{column} is {types[column]}, expected {'an integer' if column == 'row_id' else 'VARCHAR (text)'}"
        for column in SOURCE_COLUMNS
        if (types[column] not in INTEGER_TYPES if column == "row_id" else types[column] != "VARCHAR")
    ]
    if wrong:
        raise SourceDataError(f"{path}: wrong column type(s): {'; '.join(wrong)}")
    conn.execute(
        f"CREATE OR REPLACE TEMP VIEW source_rows AS SELECT {', '.join(SOURCE_COLUMNS)} FROM {relation}"
    )
    return SourceRows(path=path, kind="parquet", malformed_lines=0, malformed_examples=[])


def _open_csv(conn: duckdb.DuckDBPyConnection, path: Path) -> SourceRows:
    with open(path, encoding="utf-8", errors="replace") as file:
        header = tuple(name.strip().strip('"') for name in file.readline().rstrip("\r\n").split(","))
    if header != RAW_CSV_COLUMNS:
        raise SourceDataError(
            f"{path}: header has columns {', '.join(header)}; expected {', '.join(RAW_CSV_COLUMNS)}"
        )
    columns = ", ".join(f"'{name}': 'VARCHAR'" for name in RAW_CSV_COLUMNS)
    try:
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE source_rows AS
            SELECT row_number() OVER () - 1 AS row_id, user_id, artistname AS artist,
                   trackname AS track, playlistname AS playlist
            FROM read_csv({sql_string(str(path))}, header = true, auto_detect = false, delim = ',',
                          quote = '"', escape = '\\', columns = {{{columns}}}, allow_quoted_nulls = false,
                          ignore_errors = true, store_rejects = true,
                          rejects_table = 'source_rejects', rejects_scan = 'source_reject_scans')
            """
        )
    except duckdb.Error as error:
        raise SourceDataError(f"{path}: not a readable CSV file: {error}") from None
    malformed = conn.execute("SELECT count(DISTINCT line) FROM source_rejects").fetchall()[0][0]
    examples = [
        f"line {line}: {error_type.lower()}: {text.strip()[:200]}"
        for line, error_type, text in conn.execute(
            f"""
            SELECT line, any_value(error_type), any_value(csv_line) FROM source_rejects
            GROUP BY line ORDER BY line LIMIT {MALFORMED_EXAMPLES}
            """
        ).fetchall()
    ]
    conn.execute("DROP TABLE source_rejects")
    conn.execute("DROP TABLE source_reject_scans")
    return SourceRows(path=path, kind="csv", malformed_lines=int(malformed), malformed_examples=examples)
