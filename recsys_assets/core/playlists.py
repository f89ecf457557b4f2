"""The playlist table and its train / validate / test splits, built inside DuckDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb
import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys_assets.core.baselines import TrainStatistics
from recsys_assets.core.corpus import CORPUS_FILE, CORPUS_MANIFEST, MAX_SENTENCE_LENGTH, PIECE_OVERLAP
from recsys_assets.core.metrics import EvaluationCases
from recsys_assets.core.sources import SourceDataError, SourceRows, open_source_rows

SPLIT_TABLES = ("train_playlists", "validate_playlists", "test_playlists")
TRAIN_COUNT_FILES = ("tracks.parquet", "transitions.parquet")
TRAIN_FILES = (*TRAIN_COUNT_FILES, CORPUS_FILE, CORPUS_MANIFEST)
"""Everything `write_train_counts` writes for one data build."""
SPLIT_PERCENTAGES = (70, 20, 10)
SPLIT_ASSIGNMENT = "playlist_split_assignment"
MIN_PLAYLISTS = 10
"""The fewest playlists a build may keep: each split then holds its share of at least one."""
TRACK_ID_SEPARATOR = "|||"
PLAYLIST_ID_SEPARATOR = "-"


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


def _escaped(column: str, separator_character: str) -> str:
    """SQL that backslash-escapes backslashes and `separator_character` in `column`."""
    escaped_backslashes = f"replace({column}, '\\', '\\\\')"
    return f"replace({escaped_backslashes}, '{separator_character}', '\\{separator_character}')"


def split_track_id(track_id: str) -> tuple[str, str]:
    """The (artist, track) names a track id was built from (see `build_playlist_table`)."""
    if "\\" not in track_id:
        artist, _, track = track_id.partition(TRACK_ID_SEPARATOR)
        return artist, track
    artist, position = [], 0
    while position < len(track_id) and not track_id.startswith(TRACK_ID_SEPARATOR, position):
        if track_id[position] == "\\":
            position += 1
        artist.append(track_id[position : position + 1])
        position += 1
    return "".join(artist), track_id[position + len(TRACK_ID_SEPARATOR) :]


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
                       {_escaped("user_id", PLAYLIST_ID_SEPARATOR)} || '{PLAYLIST_ID_SEPARATOR}' || playlist
                           AS playlist_id,
                       {_escaped("artist", "|")} || '{TRACK_ID_SEPARATOR}' || track AS track_id
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
                   (SELECT count(*) FROM playlist_rows WHERE NOT complete)
            """
        ).fetchall()[0]
        if counts[0] == 0:
            raise SourceDataError(f"{source}: no complete playlist rows ({counts[5]} rows with a NULL field)")
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
) -> tuple[PlaylistTableStats, dict[str, int]]:
    """Build `playlists` and its train / validate / test splits in one transaction: either all
    four are replaced, or (on any error, a source too small to split, or a killed process) all
    stay as they were. Returns the table's statistics and the split sizes."""
    with transaction(conn):
        stats = build_playlist_table(conn, source, sample_fraction=sample_fraction, sample_seed=sample_seed)
        if stats.playlists_kept < MIN_PLAYLISTS:
            raise SourceDataError(
                f"{source}: only {stats.playlists_kept} of {stats.playlists} playlists have more than 2"
                f" complete tracks; at least {MIN_PLAYLISTS} are needed for 70/20/10 splits. The previous"
                " playlist tables are kept."
            )
        sizes = split_playlists(conn, seed)
    return stats, sizes


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


def export_table(conn: duckdb.DuckDBPyConnection, table: str, path: Path) -> None:
    """Write `table` to the Parquet file `path`, its rows in playlist_id order."""
    quoted = str(path).replace("'", "''")
    conn.execute(f"COPY (SELECT * FROM {table} ORDER BY playlist_id) TO '{quoted}' (FORMAT parquet)")


def read_table_file(location: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A table written by `export_table`, from a local path or any fsspec URL, with `columns`
    (all when None) in the file's order."""
    with fsspec.open(location, "rb") as file:
        return pq.read_table(file, columns=columns).to_pandas()


def write_train_counts(conn: duckdb.DuckDBPyConnection, folder: Path, table: str = "train_playlists") -> None:
    """Count the training playlists for `TrainStatistics.from_ordered` and write them as a
    `Corpus`, into `folder`: `tracks.parquet` (track, plays, popularity_rank; one row per track,
    sorted by track id, its row number the track's code), `transitions.parquet` (source, follower,
    count; codes, ordered by source, then count, most first, then the follower's popularity rank),
    and the corpus file (codes, playlists in playlist_id order, long ones in pieces as
    `corpus.piece_starts` cuts them) with its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE train_track_codes AS
        SELECT track, plays, code,
               (row_number() OVER (ORDER BY plays DESC, code) - 1)::INTEGER AS popularity_rank
        FROM (SELECT track, plays, (row_number() OVER (ORDER BY track) - 1)::INTEGER AS code
              FROM (SELECT track, count(*) AS plays
                    FROM (SELECT unnest(track_sequence) AS track FROM {table}) GROUP BY track))"""
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE train_codes AS
        SELECT playlist_id, list(code ORDER BY position) AS codes
        FROM (SELECT playlist_id, unnest(track_sequence) AS track,
                     generate_subscripts(track_sequence, 1) AS position FROM {table})
        JOIN train_track_codes USING (track)
        GROUP BY playlist_id"""
    )
    tracks, transitions, corpus = (
        str(folder / name).replace("'", "''") for name in (*TRAIN_COUNT_FILES, CORPUS_FILE)
    )
    conn.execute(
        f"COPY (SELECT track, plays, popularity_rank FROM train_track_codes ORDER BY code)"
        f" TO '{tracks}' (FORMAT parquet)"
    )
    conn.execute(
        f"""COPY (
            WITH pairs AS (
                SELECT pair[1] AS source, pair[2] AS follower, count(*)::INTEGER AS count
                FROM (SELECT unnest(list_zip(list_slice(codes, 1, len(codes) - 1),
                                             list_slice(codes, 2, len(codes)))) AS pair FROM train_codes)
                GROUP BY ALL)
            SELECT source, follower, count
            FROM pairs JOIN train_track_codes f ON f.code = follower
            ORDER BY source, count DESC, f.popularity_rank
        ) TO '{transitions}' (FORMAT parquet)"""
    )
    step = MAX_SENTENCE_LENGTH - PIECE_OVERLAP
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE train_pieces AS
        SELECT playlist_id, start, list_slice(codes, start + 1, start + {MAX_SENTENCE_LENGTH}) AS piece
        FROM train_codes, LATERAL (
            SELECT unnest(CASE WHEN len(codes) <= {MAX_SENTENCE_LENGTH} THEN [0]
                          ELSE range(0, len(codes) - {PIECE_OVERLAP}, {step}) END) AS start)"""
    )
    conn.execute(
        f"""COPY (SELECT array_to_string(piece, ' ') FROM train_pieces ORDER BY playlist_id, start)
        TO '{corpus}' (FORMAT csv, HEADER false, QUOTE '', DELIMITER '\t')"""
    )
    lines, words, long_playlists = conn.execute(
        """SELECT count(*), coalesce(sum(len(piece)), 0),
                   count(DISTINCT playlist_id) FILTER (start > 0)
        FROM train_pieces"""
    ).fetchall()[0]
    (folder / CORPUS_MANIFEST).write_text(
        json.dumps({"lines": lines, "words": int(words), "long_playlists": long_playlists})
    )
    conn.execute("DROP TABLE train_pieces")
    conn.execute("DROP TABLE train_codes")
    conn.execute("DROP TABLE train_track_codes")


def read_train_statistics(location: str) -> TrainStatistics:
    """The training statistics from the files `write_train_counts` wrote to `location` (a local
    folder or fsspec URL)."""
    tracks = read_table_file(f"{location}/{TRAIN_COUNT_FILES[0]}")
    transitions = read_table_file(f"{location}/{TRAIN_COUNT_FILES[1]}")
    return TrainStatistics.from_ordered(
        tracks["track"].to_numpy(dtype=object),
        tracks["plays"].to_numpy(),
        tracks["popularity_rank"].to_numpy(),
        transitions["source"].to_numpy(),
        transitions["follower"].to_numpy(),
        transitions["count"].to_numpy(),
    )


def read_splits(
    conn: duckdb.DuckDBPyConnection, cases_table: str = "validate_playlists"
) -> tuple[list[list[str]], EvaluationCases]:
    """The training track sequences and the evaluation cases of `cases_table`, by playlist_id."""
    sentences = [
        row[0]
        for row in conn.execute("SELECT track_sequence FROM train_playlists ORDER BY playlist_id").fetchall()
    ]
    rows = conn.execute(
        f"SELECT track_test_x, artist_sequence, track_test_y FROM {cases_table} ORDER BY playlist_id"
    ).fetchall()
    return sentences, EvaluationCases.from_columns(*zip(*rows, strict=True))
