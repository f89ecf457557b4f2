"""Playlist rows from a source file (the cleaned parquet or the raw Spotify CSV), checked."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from recsys_assets.core.storage.files import check_regular_file

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
MAX_MALFORMED_SHARE = 0.10
"""A CSV with a larger share of malformed lines is refused rather than read from what is left."""
GLOB_CHARACTERS = set("*?[]{}")
BYTE_ORDER_MARK = "\ufeff"


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


@contextmanager
def _literal_path(path: Path) -> Iterator[Path]:
    """`path` under a name DuckDB reads as exactly that file: a private link when the name holds
    characters DuckDB would expand as a glob."""
    if not GLOB_CHARACTERS & set(str(path)):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="recsys-source-") as directory:
        link = Path(directory) / f"source{path.suffix.lower()}"
        link.symlink_to(path.resolve())
        yield link


@contextmanager
def open_source_rows(conn: duckdb.DuckDBPyConnection, path: Path) -> Iterator[SourceRows]:
    """Expose exactly the file `path` as `source_rows` (row_id, user_id, artist, track, playlist)
    on `conn` while the block runs.

    A `.parquet` file must have the cleaned schema; a `.csv` file is the raw Spotify dump, whose
    malformed lines are skipped one by one and reported, and whose file order becomes row_id. A
    CSV with more than `MAX_MALFORMED_SHARE` of its lines malformed is refused.
    """
    try:
        check_regular_file(path, "playlist source file")
    except OSError as error:
        raise SourceDataError(str(error)) from None
    if path.stat().st_size == 0:
        raise SourceDataError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise SourceDataError(
            f"{path}: expected a .parquet file (columns {', '.join(SOURCE_COLUMNS)}) or the raw .csv dump"
        )
    with _literal_path(path) as readable:
        found = (
            _open_parquet(conn, path, readable) if suffix == ".parquet" else _open_csv(conn, path, readable)
        )
        try:
            yield found
        finally:
            conn.execute(f"DROP {'VIEW' if found.kind == 'parquet' else 'TABLE'} IF EXISTS source_rows")


def _open_parquet(conn: duckdb.DuckDBPyConnection, path: Path, readable: Path) -> SourceRows:
    relation = f"read_parquet({sql_string(str(readable))})"
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


def _check_header(path: Path) -> None:
    with open(path, encoding="utf-8", errors="replace", newline="") as file:
        first = file.readline().removeprefix(BYTE_ORDER_MARK).rstrip("\r\n")
    header = tuple(name.strip().strip('"') for name in first.split(","))
    if header != RAW_CSV_COLUMNS:
        raise SourceDataError(
            f"{path}: header has columns {', '.join(header)}; expected {', '.join(RAW_CSV_COLUMNS)}"
        )


_FIELD = r'("(?:[^"\\]|\\.)*"|)'
RECORD_PATTERN = "^" + r",\s*".join([_FIELD] * len(RAW_CSV_COLUMNS)) + r"\s*$"
"""One raw CSV record: four fields, each quoted with backslash escapes, or empty (NULL)."""
_LINE_DELIMITER = "\x1f\x1e\x1d\x1c"


def _field(group: str) -> str:
    """SQL turning a captured field into its value: NULL when empty, else unquoted, unescaped."""
    inner = f"substr({group}, 2, length({group}) - 2)"
    regexp_replace = f"regexp_replace({inner}, '\\\\(.)', '\\1', 'gs')"
    unescaped = f"CASE WHEN contains({inner}, '\\') THEN {regexp_replace} ELSE {inner} END"
    return f"CASE WHEN {group} = '' THEN NULL ELSE {unescaped} END"


CSV_WORK_TABLES = ("csv_lines", "csv_rejected_lines", "csv_records", "csv_joined")
REJECTION_REASONS = {
    "LINE SIZE OVER MAXIMUM": "longer than the reader's line limit of 2,000,000 bytes",
    "INVALID ENCODING": "not UTF-8 text",
}


def _read_lines(conn: duckdb.DuckDBPyConnection, path: Path, readable: Path) -> None:
    """Read the file's lines after the header into `csv_lines` (line, text), numbered as in the
    file, and the lines the reader rejects (too long, not UTF-8) into `csv_rejected_lines`
    (line, text: why)."""
    conn.execute("DROP TABLE IF EXISTS csv_rejects")
    conn.execute("DROP TABLE IF EXISTS csv_reject_scans")
    try:
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE csv_lines AS
            SELECT row_number() OVER () + 1 AS line, text
            FROM read_csv({sql_string(str(readable))}, header = false, skip = 1, auto_detect = false,
                          delim = '{_LINE_DELIMITER}', quote = '', escape = '',
                          columns = {{'text': 'VARCHAR'}}, strict_mode = false, ignore_errors = true,
                          store_rejects = true, rejects_table = 'csv_rejects',
                          rejects_scan = 'csv_reject_scans')
            """
        )
    except duckdb.Error as error:
        raise SourceDataError(f"{path}: not a readable text file: {error}") from None
    reasons = " ".join(
        f"WHEN {sql_string(kind)} THEN {sql_string(why)}" for kind, why in REJECTION_REASONS.items()
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE csv_rejected_lines AS
        SELECT line, CASE any_value(error_type) {reasons} ELSE any_value(error_message) END AS text
        FROM csv_rejects GROUP BY line
        """
    )
    for table in ("csv_rejects", "csv_reject_scans"):
        conn.execute(f"DROP TABLE {table}")
    if conn.execute("SELECT count(*) FROM csv_rejected_lines").fetchone()[0]:
        _renumber_around(conn, "csv_rejected_lines")


def _renumber_around(conn: duckdb.DuckDBPyConnection, rejected: str) -> None:
    """Renumber `csv_lines`, numbered as if the lines in `rejected` were not in the file, with
    their line numbers in the file."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE csv_lines AS
        SELECT csv_lines.line + coalesce(shift.rejected_before, 0) AS line, text
        FROM csv_lines ASOF LEFT JOIN (
            SELECT from_line, max(rejected_so_far) AS rejected_before
            FROM (
                SELECT line + 1 - row_number() OVER (ORDER BY line) AS from_line,
                       row_number() OVER (ORDER BY line) AS rejected_so_far
                FROM {rejected}
            )
            GROUP BY from_line
        ) AS shift ON csv_lines.line >= shift.from_line
        """
    )


def _open_csv(conn: duckdb.DuckDBPyConnection, path: Path, readable: Path) -> SourceRows:
    """Parse the raw CSV line by line: a record is one line, or two when a quoted field holds a
    line break; any other line is malformed and skipped alone, so an opening quote that is never
    closed costs its own line only."""
    _check_header(path)
    groups = [f"g{i}" for i in range(len(RAW_CSV_COLUMNS))]
    _read_lines(conn, path, readable)
    matched = " OR ".join(f"fields.{group} <> ''" for group in groups)
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE csv_records AS
        SELECT line, CASE WHEN complete THEN NULL ELSE text END AS text, fields, complete
        FROM (
            SELECT line, text, fields, {matched} AS complete
            FROM (SELECT line, text, regexp_extract(text, $pattern, {groups!r}) AS fields FROM csv_lines)
        )
        """,
        {"pattern": RECORD_PATTERN},
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE csv_joined AS
        SELECT line, fields
        FROM (
            SELECT broken.line, regexp_extract(broken.text || chr(10) || next.text, $pattern, {groups!r})
                       AS fields
            FROM csv_records AS broken JOIN csv_lines AS next ON next.line = broken.line + 1
            WHERE NOT broken.complete
        )
        WHERE {matched}
        """,
        {"pattern": RECORD_PATTERN},
    )
    conn.execute("DELETE FROM csv_joined WHERE line - 1 IN (SELECT line FROM csv_joined)")
    conn.execute(
        """
        DELETE FROM csv_records
        WHERE line IN (SELECT line FROM csv_joined UNION ALL SELECT line + 1 FROM csv_joined)
        """
    )
    conn.execute("INSERT INTO csv_records SELECT line, NULL, fields, true FROM csv_joined")
    conn.execute("INSERT INTO csv_records SELECT line, text, NULL, false FROM csv_rejected_lines")
    total, malformed = conn.execute(
        "SELECT count(*), count(*) FILTER (NOT complete) FROM csv_records"
    ).fetchall()[0]
    examples = [
        f"line {line}: {text.strip()[:200]}"
        for line, text in conn.execute(
            f"SELECT line, text FROM csv_records WHERE NOT complete ORDER BY line LIMIT {MALFORMED_EXAMPLES}"
        ).fetchall()
    ]
    if malformed > MAX_MALFORMED_SHARE * total:
        for table in CSV_WORK_TABLES:
            conn.execute(f"DROP TABLE {table}")
        raise SourceDataError(
            f"{path}: {malformed} of {total} lines are malformed (more than {MAX_MALFORMED_SHARE:.0%}),"
            f" so the file is not read as playlist rows; first ones: {'; '.join(examples)}"
        )
    values = ", ".join(
        f"{_field(f'fields.{group}')} AS {name}"
        for group, name in zip(groups, ("user_id", "artist", "track", "playlist"), strict=True)
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE source_rows AS
        SELECT line AS row_id, {values} FROM csv_records WHERE complete
        """
    )
    for table in CSV_WORK_TABLES:
        conn.execute(f"DROP TABLE {table}")
    return SourceRows(path=path, kind="csv", malformed_lines=int(malformed), malformed_examples=examples)
