"""Reading source files: the raw Spotify CSV with its quirks, and bad files of every kind."""

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from recsys_assets.core.playlists import build_playlist_table
from recsys_assets.core.sources import SourceDataError, open_source_rows

HEADER = '"user_id", "artistname", "trackname", "playlistname"'
WELL_FORMED = [
    (
        '"u1","Elvis Costello","(The Angels Wanna Wear My) Red Shoes","Rock"',
        ("u1", "Elvis Costello", "(The Angels Wanna Wear My) Red Shoes", "Rock"),
    ),
    (
        '"u1","Art \\"Quoted\\" Name","Track, with comma","Rock"',
        ("u1", 'Art "Quoted" Name', "Track, with comma", "Rock"),
    ),
    ('"u1","A|||B","back\\\\slash\ttab","Rock"', ("u1", "A|||B", "back\\slash\ttab", "Rock")),
    ('"u1","Multi\nline","Ünïcødé ♪","Rock"', ("u1", "Multi\nline", "Ünïcødé ♪", "Rock")),
    ('"u1","","None","Rock"', ("u1", "", "None", "Rock")),
    ('"u2","None","Track","Chill"', ("u2", "None", "Track", "Chill")),
    ('"u2",,"no artist","Chill"', ("u2", None, "no artist", "Chill")),
]
MALFORMED = [
    '"u2","broken "stray" quote,"x","Chill"',
    '"u2","Only three","fields"',
    '"u2","one","too","many","fields"',
]


def write_csv(path: Path) -> Path:
    lines = [HEADER]
    for (line, _), bad in zip(WELL_FORMED, [*MALFORMED, None, None, None, None], strict=True):
        lines.append(line)
        if bad:
            lines.append(bad)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_raw_csv_keeps_every_well_formed_row_in_file_order(tmp_path: Path):
    with duckdb.connect() as conn:
        found = open_source_rows(conn, write_csv(tmp_path / "spotify_dataset.csv"))
        rows = conn.execute("SELECT row_id, user_id, artist, track, playlist FROM source_rows").fetchall()
    assert [row[1:] for row in rows] == [expected for _, expected in WELL_FORMED]
    assert [row[0] for row in rows] == list(range(len(WELL_FORMED)))
    assert found.kind == "csv"
    assert found.malformed_lines == len(MALFORMED)
    assert len(found.malformed_examples) == 3
    assert found.malformed_examples[0].startswith("line 3: ")
    assert "stray" in found.malformed_examples[0]


def test_csv_playlist_table_drops_and_counts_null_rows(tmp_path: Path):
    with duckdb.connect() as conn:
        stats = build_playlist_table(conn, write_csv(tmp_path / "raw.csv"))
        tracks = conn.execute("SELECT track_sequence FROM playlists WHERE playlist_id = 'u1-Rock'").fetchall()
    assert stats.null_rows == 1
    assert stats.source.malformed_lines == 3
    assert stats.playlists_kept == 1
    assert tracks[0][0] == [
        "Elvis Costello|||(The Angels Wanna Wear My) Red Shoes",
        'Art "Quoted" Name|||Track, with comma',
        "A\\|\\|\\|B|||back\\slash\ttab",
        "Multi\nline|||Ünïcødé ♪",
        "|||None",
    ]


def rows_file(path: Path, rows: list[tuple]) -> Path:
    pd.DataFrame(rows, columns=["row_id", "user_id", "artist", "track", "playlist"]).to_parquet(path)
    return path


def test_names_with_separators_never_share_an_id(tmp_path: Path):
    pairs = [
        ("A|||B", "C"),
        ("A", "B|||C"),
        ("A|", "||B"),
        ("A\\", "|B"),
        ("A", "\\|B"),
        ("None", ""),
        ("", "None"),
    ]
    rows = [
        (i * 3 + j, "u", artist, track, f"p{i}") for i, (artist, track) in enumerate(pairs) for j in range(3)
    ]
    rows += [(100, "u-1", "x", "y", "p"), (101, "u", "x", "y", "1-p")] * 3
    with duckdb.connect() as conn:
        build_playlist_table(
            conn, rows_file(tmp_path / "rows.parquet", [(i, *r[1:]) for i, r in enumerate(rows)])
        )
        tracks = conn.execute("SELECT DISTINCT unnest(track_sequence) FROM playlists").fetchall()
        playlists = conn.execute("SELECT playlist_id FROM playlists").fetchall()
    assert len(tracks) == len(pairs) + 1
    assert len(playlists) == len(pairs) + 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (
            b'"user_id", "artist", "trackname", "playlistname"\n"u","a","t","p"\n',
            "header has columns user_id, artist",
        ),
    ],
)
def test_bad_csv_is_refused_naming_the_file(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "raw.csv"
    path.write_bytes(content)
    with duckdb.connect() as conn, pytest.raises(SourceDataError) as error:
        open_source_rows(conn, path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_csv_without_rows_is_refused(tmp_path: Path):
    path = tmp_path / "raw.csv"
    path.write_text(HEADER + "\n")
    with duckdb.connect() as conn, pytest.raises(SourceDataError, match="no complete playlist rows"):
        build_playlist_table(conn, path)


def test_parquet_with_wrong_types_is_refused(tmp_path: Path):
    path = tmp_path / "rows.parquet"
    pd.DataFrame(
        {"row_id": ["1"], "user_id": [7], "artist": ["a"], "track": ["t"], "playlist": ["p"]}
    ).to_parquet(path)
    with duckdb.connect() as conn, pytest.raises(SourceDataError) as error:
        open_source_rows(conn, path)
    assert "row_id is VARCHAR, expected an integer" in str(error.value)
    assert "user_id is BIGINT, expected VARCHAR" in str(error.value)


def test_truncated_parquet_and_unknown_suffix_are_refused(tmp_path: Path):
    whole = rows_file(tmp_path / "whole.parquet", [(i, "u", "a", str(i), "p") for i in range(100)])
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(whole.read_bytes()[:-40])
    other = tmp_path / "rows.json"
    other.write_text("{}")
    with duckdb.connect() as conn:
        with pytest.raises(SourceDataError, match=r"truncated\.parquet: not a readable parquet file"):
            open_source_rows(conn, truncated)
        with pytest.raises(SourceDataError, match=r"rows\.json: expected a \.parquet file"):
            open_source_rows(conn, other)


def test_sampling_keeps_whole_playlists_deterministically(tmp_path: Path):
    rows = [(i, f"u{i // 40}", "a", str(i % 7), f"p{i // 4}") for i in range(4_000)]
    path = rows_file(tmp_path / "rows.parquet", rows)

    def sampled(seed: int) -> list[tuple]:
        with duckdb.connect() as conn:
            build_playlist_table(conn, path, sample_fraction=0.3, sample_seed=seed)
            return conn.execute("SELECT playlist_id, len(track_sequence) FROM playlists").fetchall()

    first = sampled(1)
    assert first == sampled(1) and first != sampled(2)
    assert all(length == 4 for _, length in first)
    assert 0.2 < len(first) / 1_000 < 0.4
    with pytest.raises(ValueError, match="sample fraction must be in"):
        build_playlist_table(duckdb.connect(), path, sample_fraction=0)
