from pathlib import Path

import duckdb
import pandas as pd
import pytest

from recsys_assets.core.data.corpus import (
    CORPUS_FILE,
    MAX_SENTENCE_LENGTH,
    PIECE_OVERLAP,
    read_corpus_manifest,
)
from recsys_assets.core.data.playlists import (
    MIN_PLAYLISTS,
    SPLIT_TABLES,
    build_playlist_table,
    build_playlist_tables,
    playlist_table_problems,
    split_playlists,
    split_problems,
    split_sizes,
    table_exists,
)
from recsys_assets.core.data.sources import SourceDataError
from recsys_assets.core.data.training_files import read_train_statistics, write_training_files
from recsys_assets_tests.reference import corpus_of, statistics_of


def write_rows(path: Path, rows: list[tuple[int, str, str, str, str]]) -> Path:
    frame = pd.DataFrame(rows, columns=["row_id", "user_id", "artist", "track", "playlist"])
    frame.to_parquet(path)
    return path


@pytest.fixture
def conn():
    with duckdb.connect() as connection:
        yield connection


def test_playlist_table_orders_tracks_by_row_id_and_holds_out_the_last(tmp_path: Path, conn):
    rows = [
        (3, "u1", "C", "c", "road"),
        (1, "u1", "A", "a", "road"),
        (2, "u1", "B", "b", "road"),
        (4, "u1", "D", "d", "road"),
        (5, "u2", "A", "a", "road"),
        (6, "u2", "B", "b", "road"),
        (7, "u1", "A", "a", "chill"),
    ]
    stats = build_playlist_table(conn, write_rows(tmp_path / "rows.parquet", rows))
    table = conn.execute("SELECT * FROM playlists").fetch_df()
    assert table["playlist_id"].tolist() == ["u1-road"]
    row = table.iloc[0]
    assert list(row["track_sequence"]) == ["A|||a", "B|||b", "C|||c", "D|||d"]
    assert list(row["artist_sequence"]) == ["A", "B", "C", "D"]
    assert list(row["track_test_x"]) == ["A|||a", "B|||b", "C|||c"]
    assert row["track_test_y"] == "D|||d"
    assert (row["user_id"], row["playlist"]) == ("u1", "road")
    assert (stats.rows, stats.users, stats.tracks, stats.playlists, stats.artists) == (7, 2, 4, 3, 4)
    assert (stats.rows_kept, stats.playlists_kept) == (4, 1)


def test_distinct_counts_are_those_of_the_escaped_ids(tmp_path: Path, conn):
    rows = [
        (1, "u-1", "a|", "b", "p"),
        (2, "u-1", "a", "|b", "p"),
        (3, "u-1", "a", "|b", "p"),
        (4, "u", "a", "|b", "1-p"),
        (5, "u", "a|", "b", "1-p"),
        (11, "u", "c", "d", "1-p"),
        (6, "u", None, "d", "1-p"),
        (7, "u-1", "c", "b", "p"),
        (8, "v", "c", "d", "p"),
        (9, "v", "c", "b", "p"),
        (10, "v", "a", "|b", "p"),
    ]
    stats = build_playlist_table(conn, write_rows(tmp_path / "rows.parquet", rows))
    tracks, artists, playlists = conn.execute(
        """SELECT count(DISTINCT track), count(DISTINCT artist), count(DISTINCT playlist_id)
        FROM (SELECT playlist_id, unnest(track_sequence) AS track, unnest(artist_sequence) AS artist
              FROM playlists)"""
    ).fetchall()[0]
    assert (tracks, artists, playlists) == (4, 3, 3)
    assert (stats.tracks, stats.artists, stats.playlists, stats.users) == (tracks, artists, playlists, 3)
    assert (stats.rows, stats.rows_kept, stats.null_rows) == (10, 10, 1)


def test_missing_column_names_the_file_and_the_column(tmp_path: Path, conn):
    path = tmp_path / "no_track.parquet"
    pd.DataFrame({"row_id": [1], "user_id": ["u"], "artist": ["a"], "playlist": ["p"]}).to_parquet(path)
    with pytest.raises(SourceDataError) as error:
        build_playlist_table(conn, path)
    assert str(path) in str(error.value)
    assert "missing column(s) track" in str(error.value)
    assert not table_exists(conn, "playlists")


def test_missing_or_unreadable_file_is_refused(tmp_path: Path, conn):
    with pytest.raises(SourceDataError, match="not found"):
        build_playlist_table(conn, tmp_path / "absent.parquet")
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    with pytest.raises(SourceDataError, match=r"garbage\.parquet: not a readable parquet file"):
        build_playlist_table(conn, garbage)


def test_failed_rebuild_keeps_the_previous_table(tmp_path: Path, conn):
    good = write_rows(tmp_path / "good.parquet", [(i, "u", "A", str(i), "p") for i in range(4)])
    build_playlist_table(conn, good)
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"row_id": [1]}).to_parquet(bad)
    with pytest.raises(SourceDataError):
        build_playlist_table(conn, bad)
    assert conn.execute("SELECT count(*) FROM playlists").fetchall() == [(1,)]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 9, 10, 11, 997])
def test_split_sizes_add_up_and_stay_within_one_row_of_70_20_10(n: int):
    sizes = split_sizes(n)
    assert sum(sizes) == n
    for size, share in zip(sizes, (0.7, 0.2, 0.1), strict=True):
        assert abs(size - share * n) <= 1


def make_playlists(conn, ids: list[str]) -> None:
    conn.execute("CREATE OR REPLACE TABLE playlists (playlist_id VARCHAR, n INTEGER)")
    conn.executemany("INSERT INTO playlists VALUES (?, ?)", [(i, len(i)) for i in ids])


def split_ids(conn) -> dict[str, list[str]]:
    return {
        table: [
            r[0] for r in conn.execute(f"SELECT playlist_id FROM {table} ORDER BY playlist_id").fetchall()
        ]
        for table in SPLIT_TABLES
    }


def test_splits_are_disjoint_complete_and_sized(conn):
    ids = [f"p{i:04d}" for i in range(1000)]
    make_playlists(conn, ids)
    sizes = split_playlists(conn, seed=42)
    assert sizes == dict(zip(SPLIT_TABLES, (700, 200, 100), strict=True))
    parts = split_ids(conn)
    assert sorted(i for part in parts.values() for i in part) == ids
    assert conn.execute("SELECT count(*) FROM playlist_split_assignment").fetchall() == [(1000,)]


def test_splits_depend_on_the_seed_but_not_on_row_order(conn):
    ids = [f"p{i:04d}" for i in range(300)]
    make_playlists(conn, ids)
    split_playlists(conn, seed=1)
    first = split_ids(conn)
    make_playlists(conn, list(reversed(ids)))
    split_playlists(conn, seed=1)
    assert split_ids(conn) == first
    split_playlists(conn, seed=2)
    assert split_ids(conn) != first


def test_problem_counts_find_null_ids_and_short_sequences(tmp_path: Path, conn):
    rows = [(i, "u", "A", str(i % 5), f"p{i // 5}") for i in range(5 * MIN_PLAYLISTS)]
    build_playlist_table(conn, write_rows(tmp_path / "rows.parquet", rows))
    short = f"playlists missing to reach the minimum of {MIN_PLAYLISTS}"
    assert playlist_table_problems(conn) == {
        "rows with a NULL id": 0,
        "sequences of 2 tracks or fewer": 0,
        short: 0,
    }
    conn.execute("INSERT INTO playlists VALUES ('bad', 'u', 'p', ['A', 'A'], ['x', NULL])")
    assert playlist_table_problems(conn) == {
        "rows with a NULL id": 1,
        "sequences of 2 tracks or fewer": 1,
        short: 0,
    }
    conn.execute("DELETE FROM playlists")
    assert playlist_table_problems(conn)[short] == MIN_PLAYLISTS


def test_split_problems_name_overlaps_gaps_and_proportions(conn):
    make_playlists(conn, [f"p{i:03d}" for i in range(100)])
    split_playlists(conn, seed=3)
    assert split_problems(conn) == []
    dropped = conn.execute("SELECT playlist_id FROM test_playlists LIMIT 2").fetchall()
    conn.execute("DELETE FROM playlist_split_assignment WHERE playlist_id IN (?, ?)", [d[0] for d in dropped])
    conn.execute(
        "INSERT INTO playlist_split_assignment SELECT playlist_id, 0 FROM validate_playlists LIMIT 1"
    )
    assert split_problems(conn) == [
        "1 playlist(s) in more than one split",
        "2 playlist(s) of playlists in no split",
        "test_playlists has 8 of 100 playlists, not 10 % within one row",
    ]


def table_contents(conn) -> dict[str, list]:
    return {
        table: conn.execute(
            f"SELECT playlist_id, track_sequence FROM {table} ORDER BY playlist_id"
        ).fetchall()
        for table in ("playlists", *SPLIT_TABLES)
    }


def many_playlists(path: Path, playlists: int, length: int = 4) -> Path:
    rows = [(i, "u", "A", str(i % 7), f"p{i // length}") for i in range(playlists * length)]
    return write_rows(path, rows)


@pytest.mark.parametrize(("playlists", "length"), [(30, 2), (MIN_PLAYLISTS - 1, 4)])
def test_a_source_too_small_to_split_keeps_the_previous_tables(tmp_path: Path, conn, playlists, length):
    build_playlist_tables(conn, many_playlists(tmp_path / "good.parquet", 50), seed=1)
    before = table_contents(conn)
    small = many_playlists(tmp_path / "small.parquet", playlists, length)
    with pytest.raises(SourceDataError) as error:
        build_playlist_tables(conn, small, seed=1)
    assert str(error.value).startswith(f"{small}: only {0 if length == 2 else playlists} of {playlists}")
    assert "at least 10 are needed for 70/20/10 splits" in str(error.value)
    assert table_contents(conn) == before
    assert all(before[table] for table in before)


def test_a_build_that_fails_while_splitting_keeps_all_four_tables(tmp_path: Path, conn, monkeypatch):
    build_playlist_tables(conn, many_playlists(tmp_path / "good.parquet", 50), seed=1)
    before = table_contents(conn)

    def interrupted(conn, seed):
        raise KeyboardInterrupt("killed while splitting")

    monkeypatch.setattr("recsys_assets.core.data.playlists.split_playlists", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_playlist_tables(conn, many_playlists(tmp_path / "new.parquet", 80, length=5), seed=1)
    assert table_contents(conn) == before


class AbortingConnection:
    """A connection whose INSERT fails as a full disk does: DuckDB aborts the transaction itself."""

    def __init__(self, conn):
        self.conn = conn

    def execute(self, sql: str, *args):
        if sql.lstrip().startswith("INSERT INTO playlists"):
            self.conn.execute("ROLLBACK")
            raise duckdb.IOException("Could not write file: No space left on device")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self.conn, name)


def test_the_error_that_stopped_the_build_is_the_one_reported(tmp_path: Path, conn):
    build_playlist_tables(conn, many_playlists(tmp_path / "good.parquet", 50), seed=1)
    before = table_contents(conn)
    with pytest.raises(duckdb.IOException, match="No space left on device"):
        build_playlist_tables(AbortingConnection(conn), many_playlists(tmp_path / "new.parquet", 60), seed=1)
    assert table_contents(conn) == before


def test_split_problems_name_an_empty_split(conn):
    make_playlists(conn, [f"p{i:03d}" for i in range(100)])
    split_playlists(conn, seed=3)
    conn.execute("DELETE FROM playlist_split_assignment WHERE split = 2")
    assert "test_playlists is empty" in split_problems(conn)


def test_training_counts_from_duckdb_give_the_statistics_python_counts(tmp_path: Path, conn):
    sequences = [["a", "b", "c", "b", "a", "b"], ["b", "c"], ["z"], ["c", "b", "c", "é", "a"], ["b", "a"]]
    sequences.append([["a", "b", "z x"][i % 3] for i in range(MAX_SENTENCE_LENGTH + 2_500)])
    conn.execute("CREATE TABLE train_playlists (playlist_id VARCHAR, track_sequence VARCHAR[])")
    conn.executemany(
        "INSERT INTO train_playlists VALUES (?, ?)", [(str(i), s) for i, s in enumerate(sequences)]
    )
    write_training_files(conn, tmp_path / "counts")
    stored = read_train_statistics(str(tmp_path / "counts"))
    counted = statistics_of(sequences)
    assert stored.tracks.tolist() == counted.tracks.tolist() == ["a", "b", "c", "z", "z x", "é"]
    assert stored.plays.tolist() == counted.plays.tolist()
    assert stored.popularity_rank.tolist() == counted.popularity_rank.tolist()
    assert stored.by_popularity.tolist() == counted.by_popularity.tolist()
    for field in ("start", "followers", "counts"):
        assert getattr(stored.successors, field).tolist() == getattr(counted.successors, field).tolist()
    b = stored.index_of(["b"])[0]
    assert stored.tracks[stored.successors.of(b)].tolist() == ["z x", "c", "a"], "most often first"
    expected = corpus_of(sequences, tmp_path / "expected")
    assert (tmp_path / "counts" / CORPUS_FILE).read_text() == expected.path.read_text()
    assert (
        read_corpus_manifest(tmp_path / "counts")
        == expected.manifest()
        == {
            "lines": 7,
            "words": sum(map(len, sequences)) + PIECE_OVERLAP,
            "long_playlists": 1,
        }
    )
