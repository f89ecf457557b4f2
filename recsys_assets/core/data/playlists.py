"""The playlist table and its train / validate / test splits, built inside DuckDB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from recsys_assets.core.data.cases import CASE_COLUMNS, EvaluationCases
from recsys_assets.core.data.sources import SourceDataError, SourceRows, open_source_rows
from recsys_assets.core.data.track_ids import PLAYLIST_ID_SEPARATOR, TRACK_ID_SEPARATOR, escaped_sql

SPLIT_TABLES = ("train_playlists", "validate_playlists", "test_playlists")
SPLIT_PERCENTAGES = (70, 20, 10)
SPLIT_ASSIGNMENT = "playlist_split_assignment"
DATA_BUILD_TABLE = "playlist_data_build"
"""One row: the data version of the tables, written in their transaction."""
MIN_PLAYLISTS = 10
"""The fewest playlists a build may keep: each split then holds its share of at least one."""


@dataclass(frozen=True)
class PlaylistTableStats:
    """Distinct counts of the source rows and what the playlist table kept of them."""

    rows: int
    users: int
    tracks: int
    playlists: int
    artists: int
    rows_kept: int
    playlists_kept: int
    null_rows: int
    source: SourceRows


def check_sample_fraction(fraction: float) -> float:
    """`fraction` if it is a share of playlists to keep, in (0, 1]; else ValueError."""
    if not 0 < fraction <= 1:
        raise ValueError(f"sample fraction must be in (0, 1], got {fraction}")
    return fraction


def build_playlist_table(
    conn: duckdb.DuckDBPyConnection,
    source: Path,
    table: str = "playlists",
    sample_fraction: float = 1.0,
    sample_seed: int = 0,
) -> PlaylistTableStats:
    """Replace `table` with one row per playlist of more than 2 tracks, ordered by row_id, within
    the caller's transaction (see `build_playlist_tables`).

    Columns: playlist_id (user_id-playlist), user_id, playlist, artist_sequence, track_sequence
    (track ids: artist|||track), track_test_x (the sequence without its last track) and
    track_test_y (the last track). In ids, backslashes and '|' in artist names and '-' in user
    ids are backslash-escaped, so different names never share an id. Rows with a NULL field are
    dropped and counted. With `sample_fraction` below 1, a seeded share of whole playlists is
    kept. track_test_x and track_test_y are computed on read, not stored twice.
    """
    check_sample_fraction(sample_fraction)
    sampled = (
        f"AND md5_number(playlist_id || ':{int(sample_seed)}') % 1000000 < {round(sample_fraction * 1e6)}"
        if sample_fraction < 1
        else ""
    )
    with open_source_rows(conn, source) as found:
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP VIEW playlist_rows AS
            SELECT row_id, user_id, playlist, artist, track, playlist_id, track_id,
                   user_id IS NOT NULL AND playlist IS NOT NULL AND artist IS NOT NULL AND track IS NOT NULL
                       AS complete
            FROM (
                SELECT *,
                       {escaped_sql("user_id", PLAYLIST_ID_SEPARATOR)}
                           || '{PLAYLIST_ID_SEPARATOR}' || playlist AS playlist_id,
                       {escaped_sql("artist", "|")} || '{TRACK_ID_SEPARATOR}' || track AS track_id
                FROM source_rows
            )
            """
        )
        counts = conn.execute(
            """
            -- ids are escaped one-to-one from (user_id, playlist) and (artist, track): count the pairs
            WITH complete_rows AS (SELECT row_id, user_id, playlist, artist, track FROM source_rows
                                   WHERE user_id IS NOT NULL AND playlist IS NOT NULL
                                     AND artist IS NOT NULL AND track IS NOT NULL)
            SELECT (SELECT count(*) FROM (SELECT DISTINCT row_id FROM complete_rows)),
                   (SELECT count(*) FROM (SELECT DISTINCT user_id FROM complete_rows)),
                   (SELECT count(*) FROM (SELECT DISTINCT artist, track FROM complete_rows)),
                   (SELECT count(*) FROM (SELECT DISTINCT user_id, playlist FROM complete_rows)),
                   (SELECT count(*) FROM (SELECT DISTINCT artist FROM complete_rows)),
                   (SELECT count(*) FROM playlist_rows WHERE NOT complete),
                   (SELECT count(*) FROM complete_rows)
            """
        ).fetchall()[0]
        if counts[0] == 0:
            raise SourceDataError(f"{source}: no complete playlist rows ({counts[5]} rows with a NULL field)")
        if counts[0] < counts[6]:
            _refuse_duplicate_row_ids(conn, source, counts[6] - counts[0])
        conn.execute(
            f"""
            CREATE OR REPLACE TABLE {table} (
                playlist_id VARCHAR, user_id VARCHAR, playlist VARCHAR,
                artist_sequence VARCHAR[], track_sequence VARCHAR[],
                track_test_x VARCHAR[] AS (array_pop_back(track_sequence)),
                track_test_y VARCHAR AS (track_sequence[-1])
            )
            """
        )
        conn.execute(
            f"""
            INSERT INTO {table}
            SELECT playlist_id, any_value(user_id), any_value(playlist),
                   list(artist ORDER BY row_id), list(track_id ORDER BY row_id)
            FROM playlist_rows
            WHERE complete {sampled}
            GROUP BY playlist_id
            HAVING count(*) > 2
            ORDER BY playlist_id
            """
        )
        conn.execute("DROP VIEW playlist_rows")
    rows_kept, playlists_kept = conn.execute(
        f"SELECT coalesce(sum(len(track_sequence)), 0), count(*) FROM {table}"
    ).fetchall()[0]
    return PlaylistTableStats(
        *counts[:5],
        rows_kept=int(rows_kept),
        playlists_kept=int(playlists_kept),
        null_rows=int(counts[5]),
        source=found,
    )


def _refuse_duplicate_row_ids(conn: duckdb.DuckDBPyConnection, source: Path, extra: int) -> None:
    """SourceDataError naming the first repeated row_ids: row_id orders a playlist's tracks, so
    two rows with one row_id would give a different table each build."""
    first = conn.execute(
        """SELECT row_id, count(*) FROM source_rows
           WHERE user_id IS NOT NULL AND playlist IS NOT NULL AND artist IS NOT NULL AND track IS NOT NULL
           GROUP BY row_id HAVING count(*) > 1 ORDER BY row_id LIMIT 3"""
    ).fetchall()
    named = ", ".join(f"{row_id} ({times} rows)" for row_id, times in first)
    raise SourceDataError(
        f"{source}: column row_id must be unique (it orders each playlist's tracks); {extra} row(s)"
        f" repeat a row_id, the first: {named}"
    )


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit what the block writes, or roll all of it back and raise the block's own error (a
    failed rollback, e.g. after DuckDB aborted the transaction itself, does not hide it)."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        with suppress(duckdb.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def build_playlist_tables(
    conn: duckdb.DuckDBPyConnection,
    source: Path,
    seed: int,
    sample_fraction: float = 1.0,
    sample_seed: int = 0,
    data_version: str | None = None,
    before_commit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> tuple[PlaylistTableStats, dict[str, int]]:
    """Build `playlists` and its train / validate / test splits in one transaction: either all
    four are replaced, or (on any error, a source too small to split, or a killed process) all
    stay as they were. The transaction also records `data_version` (`DATA_BUILD_TABLE`) and runs
    `before_commit`, which writes what the build publishes beside the tables: when it fails, the
    tables stay as they were too. Returns the table's statistics and the split sizes."""
    with transaction(conn):
        stats = build_playlist_table(conn, source, sample_fraction=sample_fraction, sample_seed=sample_seed)
        if stats.playlists_kept < MIN_PLAYLISTS:
            raise SourceDataError(
                f"{source}: only {stats.playlists_kept} of {stats.playlists} playlists have more than 2"
                f" complete tracks; at least {MIN_PLAYLISTS} are needed for 70/20/10 splits. The previous"
                " playlist tables are kept."
            )
        sizes = split_playlists(conn, seed)
        if data_version is not None:
            conn.execute(
                f"CREATE OR REPLACE TABLE {DATA_BUILD_TABLE} AS SELECT ?::VARCHAR AS data_version",
                [data_version],
            )
        if before_commit is not None:
            before_commit(conn)
    return stats, sizes


def recorded_data_version(conn: duckdb.DuckDBPyConnection) -> str | None:
    """The data version the playlist tables were built as, if recorded."""
    if not table_exists(conn, DATA_BUILD_TABLE):
        return None
    found = conn.execute(f"SELECT data_version FROM {DATA_BUILD_TABLE}").fetchall()
    return found[0][0] if found else None


def split_sizes(n: int) -> tuple[int, int, int]:
    """Row counts of the 70/20/10 splits of `n` playlists, each within one row of its share."""
    train_end = n * SPLIT_PERCENTAGES[0] // 100
    validate_end = n * (SPLIT_PERCENTAGES[0] + SPLIT_PERCENTAGES[1]) // 100
    return train_end, validate_end - train_end, n - validate_end


def split_playlists(conn: duckdb.DuckDBPyConnection, seed: int, source: str = "playlists") -> dict[str, int]:
    """Assign every playlist of `source` to train, validate or test by a seeded 70/20/10 shuffle
    in playlist_id order, and return the split sizes (within the caller's transaction).

    The assignment is stored in `SPLIT_ASSIGNMENT`; each split is a view of `source` through it,
    so the playlists are not copied a second time.
    """
    ids = conn.execute(f"SELECT playlist_id FROM {source} ORDER BY playlist_id").fetchnumpy()["playlist_id"]
    n = len(ids)
    train, validate, _ = split_sizes(n)
    labels = np.empty(n, dtype=np.int8)
    labels[np.random.default_rng(seed).permutation(n)] = np.repeat(
        np.arange(3, dtype=np.int8), [train, validate, n - train - validate]
    )
    conn.register("split_labels", pa.table({"playlist_id": pa.array(ids, pa.string()), "split": labels}))
    try:
        conn.execute(f"CREATE OR REPLACE TABLE {SPLIT_ASSIGNMENT} AS SELECT * FROM split_labels")
        for label, table in enumerate(SPLIT_TABLES):
            if relation_type(conn, table) == "BASE TABLE":
                conn.execute(f"DROP TABLE {table}")
            conn.execute(
                f"""
                CREATE OR REPLACE VIEW {table} AS
                SELECT * FROM {source}
                SEMI JOIN (SELECT playlist_id FROM {SPLIT_ASSIGNMENT} WHERE split = {label})
                    USING (playlist_id)
                """
            )
    finally:
        conn.unregister("split_labels")
    return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] for table in SPLIT_TABLES}


def relation_type(conn: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """'BASE TABLE' or 'VIEW' for a relation called `name` in the database, else None."""
    found = conn.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
        [name],
    ).fetchall()
    return found[0][0] if found else None


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the database holds a table or view called `table`."""
    return relation_type(conn, table) is not None


def preview_rows(conn: duckdb.DuckDBPyConnection, table: str, limit: int = 5) -> list[dict[str, str]]:
    """The first rows of a playlist table, sequences shortened, as strings for display."""
    rows = conn.execute(
        f"""
        SELECT playlist_id, len(track_sequence) AS tracks,
               array_to_string(track_sequence[1:3], ' ; ') AS first_tracks, track_test_y
        FROM {table} ORDER BY playlist_id LIMIT {int(limit)}
        """
    ).fetchall()
    names = ("playlist_id", "tracks", "first_tracks", "track_test_y")
    return [dict(zip(names, map(str, row), strict=True)) for row in rows]


def playlist_table_problems(conn: duckdb.DuckDBPyConnection, table: str = "playlists") -> dict[str, int]:
    """Rows of a playlist table that break its promises, counted by problem; a table of fewer than
    `MIN_PLAYLISTS` playlists counts the ones missing."""
    nulls, short, playlists = conn.execute(
        f"""
        SELECT count(*) FILTER (WHERE playlist_id IS NULL OR track_test_y IS NULL
                                   OR list_count(track_sequence) < len(track_sequence)),
               count(*) FILTER (WHERE len(track_sequence) <= 2),
               count(*)
        FROM {table}
        """
    ).fetchall()[0]
    return {
        "rows with a NULL id": int(nulls),
        "sequences of 2 tracks or fewer": int(short),
        f"playlists missing to reach the minimum of {MIN_PLAYLISTS}": max(0, MIN_PLAYLISTS - int(playlists)),
    }


def split_problems(conn: duckdb.DuckDBPyConnection, source: str = "playlists") -> list[str]:
    """What keeps the three split tables from being a disjoint, complete 70/20/10 split."""
    union = " UNION ALL ".join(f"SELECT playlist_id FROM {table}" for table in SPLIT_TABLES)
    repeated, missing, unknown = conn.execute(
        f"""
        WITH assigned AS (SELECT playlist_id, count(*) AS times FROM ({union}) GROUP BY playlist_id)
        SELECT (SELECT count(*) FROM assigned WHERE times > 1),
               (SELECT count(*) FROM {source} ANTI JOIN assigned USING (playlist_id)),
               (SELECT count(*) FROM assigned ANTI JOIN {source} USING (playlist_id))
        """
    ).fetchall()[0]
    problems = []
    if repeated:
        problems.append(f"{repeated} playlist(s) in more than one split")
    if missing:
        problems.append(f"{missing} playlist(s) of {source} in no split")
    if unknown:
        problems.append(f"{unknown} playlist(s) in a split but not in {source}")
    total = conn.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    for table, percentage in zip(SPLIT_TABLES, SPLIT_PERCENTAGES, strict=True):
        size = conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        if not size:
            problems.append(f"{table} is empty")
        elif abs(size - percentage * total / 100) > 1:
            problems.append(f"{table} has {size} of {total} playlists, not {percentage} % within one row")
    return problems


def length_and_popularity(
    conn: duckdb.DuckDBPyConnection, table: str = "playlists"
) -> tuple[np.ndarray, np.ndarray]:
    """The number of tracks of each playlist, and the number of plays of each track."""
    lengths = conn.execute(f"SELECT len(track_sequence) AS n FROM {table}").fetchnumpy()["n"]
    plays = conn.execute(
        f"SELECT count(*) AS plays FROM (SELECT unnest(track_sequence) AS track FROM {table}) GROUP BY track"
    ).fetchnumpy()["plays"]
    return np.asarray(lengths), np.asarray(plays)


def evaluation_cases(conn: duckdb.DuckDBPyConnection, table: str) -> EvaluationCases:
    """The evaluation cases of a split table, in playlist_id order."""
    columns = ", ".join(CASE_COLUMNS)
    return EvaluationCases.from_frame(
        conn.execute(f"SELECT {columns} FROM {table} ORDER BY playlist_id").fetch_df()
    )


def track_sequences(conn: duckdb.DuckDBPyConnection, table: str = "train_playlists") -> list[list[str]]:
    """The track sequences of a playlist table, in playlist_id order."""
    rows = conn.execute(f"SELECT track_sequence FROM {table} ORDER BY playlist_id").fetchall()
    return [[str(track) for track in row[0]] for row in rows]
