"""The training split's files, written once per data build: play counts, transitions and the
corpus file every config trains from."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from recsys_assets.core.data.corpus import CORPUS_FILE, CORPUS_MANIFEST, MAX_SENTENCE_LENGTH, PIECE_OVERLAP, Corpus, read_corpus_manifest
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.storage.table_files import read_table_file

TRAIN_COUNT_FILES = ("tracks.parquet", "transitions.parquet")
TRAIN_FILES = (*TRAIN_COUNT_FILES, CORPUS_FILE, CORPUS_MANIFEST)
"""Everything `write_training_files` writes for one data build."""


def write_training_files(
    conn: duckdb.DuckDBPyConnection, folder: Path, table: str = "train_playlists"
) -> None:
    """Count the training playlists for `TrainStatistics.from_ordered` and write them as a
    `Corpus`, into `folder`: `tracks.parquet` (track, plays, popularity_rank; one row per track,
    sorted by track id, its row number the track's code), `transitions.parquet` (source, follower,
    count; codes, ordered by source, then count, most first, then the follower's popularity rank),
    and the corpus file (codes, playlists in playlist_id order, long ones in pieces as
    `MAX_SENTENCE_LENGTH` tracks overlapping by `PIECE_OVERLAP`) with its manifest."""
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
    """The training statistics from the files `write_training_files` wrote to `location` (a local
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


@dataclass(frozen=True)
class TrainingData:
    """One data build's training statistics and the corpus file every config trains from."""

    statistics: TrainStatistics
    corpus: Corpus


def read_training_data(folder: Path) -> TrainingData:
    """The training files `write_training_files` wrote to the local `folder`."""
    statistics = read_train_statistics(str(folder))
    corpus = Corpus(folder / CORPUS_FILE, statistics.tracks, statistics.plays, **read_corpus_manifest(folder))
    return TrainingData(statistics, corpus)


def training_data_of(sequences: Sequence[Sequence[str]], folder: Path) -> TrainingData:
    """The training files of playlists given as track sequences (in playlist order), written to
    `folder` by the same SQL as a data build's, and read back."""
    table = pa.table(
        {
            "playlist_id": pa.array([f"{number:09d}" for number in range(len(sequences))], pa.string()),
            "track_sequence": pa.array([list(map(str, s)) for s in sequences], pa.list_(pa.string())),
        }
    )
    with duckdb.connect() as conn:
        conn.execute("SET enable_progress_bar = false")
        conn.register("given_playlists", table)
        write_training_files(conn, folder, "given_playlists")
    return read_training_data(folder)


CURRENT_BUILD_FILE = "current.json"
"""The record of the last data build that published everything, beside the builds' folders."""


@dataclass(frozen=True)
class DataBuild:
    """What one data build published: its data version, the folder of its training files, and
    its split files by table (none when the splits are read from DuckDB)."""

    data_version: str
    training_location: str
    split_locations: dict[str, str]

    def to_json(self) -> str:
        return json.dumps(
            {
                "data_version": self.data_version,
                "training_location": self.training_location,
                "split_locations": self.split_locations,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> DataBuild:
        """The record `to_json` wrote; ValueError naming `source` when it is not one."""
        try:
            values = json.loads(text)
            build = cls(
                data_version=str(values["data_version"]),
                training_location=str(values["training_location"]),
                split_locations={str(k): str(v) for k, v in dict(values["split_locations"]).items()},
            )
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(
                f"{source}: expected the JSON record of a data build (data_version, training_location,"
                f" split_locations); rebuild the data assets to write it again ({error})"
            ) from None
        return build
