"""Reading source files: the raw Spotify CSV with its quirks, and bad files of every kind."""

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from recsys_assets.core.data.playlists import build_playlist_table
from recsys_assets.core.data.sources import SourceDataError, open_source_rows

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


PADDING = [f'"pad","Pad artist","Pad track {i}","Pad"' for i in range(40)]
"""Well-formed lines that keep the quirk file under the malformed-line threshold."""


def open_only(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    with open_source_rows(conn, path):
        pass


def write_csv(path: Path) -> Path:
    lines = [HEADER]
    for (line, _), bad in zip(WELL_FORMED, [*MALFORMED, None, None, None, None], strict=True):
        lines.append(line)
        if bad:
            lines.append(bad)
    lines += PADDING
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_raw_csv_keeps_every_well_formed_row_in_file_order(tmp_path: Path):
    with (
        duckdb.connect() as conn,
        open_source_rows(conn, write_csv(tmp_path / "spotify_dataset.csv")) as found,
    ):
        rows = conn.execute(
            "SELECT row_id, user_id, artist, track, playlist FROM source_rows"
            " WHERE user_id <> 'pad' ORDER BY row_id"
        ).fetchall()
    assert [row[1:] for row in rows] == [expected for _, expected in WELL_FORMED]
    assert [row[0] for row in rows] == sorted({row[0] for row in rows}), "row_id follows file order"
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
    assert stats.playlists_kept == 2
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
        open_only(conn, path)
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
        open_only(conn, path)
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
            open_only(conn, truncated)
        with pytest.raises(SourceDataError, match=r"rows\.json: expected a \.parquet file"):
            open_only(conn, other)


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


def csv_rows(path: Path) -> list[tuple]:
    with duckdb.connect() as conn, open_source_rows(conn, path) as found:
        rows = conn.execute("SELECT user_id, artist FROM source_rows ORDER BY row_id").fetchall()
    return rows, found


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_an_unclosed_quote_costs_its_own_line_only(tmp_path: Path, newline: str):
    lines = [
        HEADER,
        '"u1","a","t","p"',
        '"u2","open quote","t","p',
        '"u3","kept","t","p"',
        '"u4","open again","t',
        '"u5","kept too","t","p"',
        *PADDING,
    ]
    path = tmp_path / "raw.csv"
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    rows, found = csv_rows(path)
    assert [user for user, _ in rows if user != "pad"] == ["u1", "u3", "u5"]
    assert found.malformed_lines == 2
    assert [example.split(":")[0] for example in found.malformed_examples] == ["line 3", "line 5"]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_any_line_ending_and_a_byte_order_mark_keep_every_row(tmp_path: Path, newline: str):
    path = tmp_path / "raw.csv"
    lines = ["\ufeff" + HEADER, *(line for line, _ in WELL_FORMED)]
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    rows, found = csv_rows(path)
    assert rows == [expected[:2] for _, expected in WELL_FORMED]
    assert found.malformed_lines == 0


def test_a_file_of_mostly_malformed_lines_is_refused_with_counts_and_examples(tmp_path: Path):
    path = tmp_path / "raw.csv"
    lines = [HEADER, *MALFORMED * 3, *(line for line, _ in WELL_FORMED)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with duckdb.connect() as conn, pytest.raises(SourceDataError) as error:
        build_playlist_table(conn, path)
    message = str(error.value)
    assert message.startswith(f"{path}: 9 of 16 lines are malformed (more than 10%)")
    assert "line 2: " + MALFORMED[0] in message


@pytest.mark.parametrize("name", ["pl[1].csv", "star*.csv", "pl{a,b}.parquet", "what?.parquet"])
def test_the_source_path_is_read_as_exactly_that_file(tmp_path: Path, name: str):
    chosen = tmp_path / name
    if chosen.suffix == ".csv":
        chosen.write_text(HEADER + "\n" + '"chosen","a","t","p"\n' + "\n".join(PADDING) + "\n")
        for other in ("pl1.csv", "star-other.csv", "starX.csv"):
            (tmp_path / other).write_text(HEADER + '\n"other","a","t","p"\n')
    else:
        rows_file(chosen, [(0, "chosen", "a", "t", "p")])
        for other in ("pla.parquet", "whatX.parquet"):
            rows_file(tmp_path / other, [(0, "other", "a", "t", "p")])
    rows, _ = csv_rows(chosen)
    assert {user for user, _ in rows} - {"pad"} == {"chosen"}


def test_repeated_row_ids_are_refused_with_the_first_named(tmp_path: Path):
    """row_id orders each playlist: two rows with one row_id would make each build differ."""
    path = tmp_path / "rows.parquet"
    rows = [(i, "u", "a", f"t{i}", f"p{i // 4}") for i in range(60)] + [
        (5, "u", "a", "x", "p1"),
        (9, "u", "b", "y", "p2"),
    ]
    pd.DataFrame(rows, columns=["row_id", "user_id", "artist", "track", "playlist"]).to_parquet(path)
    with duckdb.connect() as conn, pytest.raises(SourceDataError) as error:
        build_playlist_table(conn, path)
    assert f"{path}: column row_id must be unique" in str(error.value)
    assert "2 row(s) repeat a row_id, the first: 5 (2 rows), 9 (2 rows)" in str(error.value)


def test_lines_the_reader_rejects_are_counted_and_later_lines_keep_their_numbers(tmp_path: Path):
    """A line over the reader's 2 MB line limit and a line that is not UTF-8 are malformed lines
    like any other: counted, named by their line number, and the lines after them keep theirs."""
    lines = [
        HEADER.encode(),
        b'"u1","a","t","p"',
        b'"u2","a","' + b"x" * 3_000_000 + b'","p"',
        b'"u3","a","t","p"',
        b'"u4","caf\xe9","t","p"',
        b'"u5","a","t","p"',
        b'"u6","broken "stray" quote,"x","p"',
        *(line.encode() for line in PADDING),
    ]
    path = tmp_path / "raw.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with duckdb.connect() as conn, open_source_rows(conn, path) as found:
        rows = conn.execute("SELECT row_id, user_id FROM source_rows WHERE user_id <> 'pad'").fetchall()
        padding = conn.execute(
            "SELECT min(row_id), max(row_id) FROM source_rows WHERE user_id = 'pad'"
        ).fetchall()
    assert sorted(rows) == [(2, "u1"), (4, "u3"), (6, "u5")]
    assert padding == [(8, 7 + len(PADDING))]
    assert found.malformed_lines == 3
    assert [example.split(":")[0] for example in found.malformed_examples] == ["line 3", "line 5", "line 7"]
    assert "longer than" in found.malformed_examples[0] and "UTF-8" in found.malformed_examples[1]
    assert "stray" in found.malformed_examples[2]
