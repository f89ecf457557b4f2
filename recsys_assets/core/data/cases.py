"""Evaluation cases: a playlist's input tracks and the held-out track that followed them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CASE_COLUMNS = ("track_test_x", "artist_sequence", "track_test_y")
"""The playlist table's columns an evaluation reads."""
MISSED = np.iinfo(np.int64).max
"""Rank of a held-out track that cannot be recommended (unknown, or the query itself)."""


@dataclass(frozen=True)
class EvaluationCases:
    """Evaluation rows: the input tracks, the artist of the last input track, the held-out track."""

    inputs: list[list[str]]
    last_artists: list[str]
    targets: list[str]

    @classmethod
    def from_columns(
        cls,
        inputs: Iterable[Sequence[str]],
        artist_sequences: Iterable[Sequence[str]],
        targets: Iterable[str],
    ) -> EvaluationCases:
        """Cases from the playlist table's track_test_x, artist_sequence and track_test_y."""
        return cls(
            inputs=[[str(t) for t in sequence] for sequence in inputs],
            last_artists=[str(artists[-2]) for artists in artist_sequences],
            targets=[str(t) for t in targets],
        )

    @classmethod
    def from_frame(cls, frame: Any) -> EvaluationCases:
        """Cases from a frame (pandas or a DuckDB result's `fetch_df`) with the `CASE_COLUMNS`."""
        return cls.from_columns(*(frame[column] for column in CASE_COLUMNS))

    def __len__(self) -> int:
        return len(self.targets)


class PlayedTracks:
    """The tracks each playlist of `inputs` already holds, as (row, track index) pairs: what a
    model that leaves the playlist's own tracks out never lists for that row.

    `index_of` maps track ids to the model's track indices (-1 where unknown).
    """

    def __init__(
        self, inputs: Sequence[Sequence[str]], index_of: Callable[[Sequence[str]], np.ndarray]
    ) -> None:
        lengths = np.fromiter((len(tracks) for tracks in inputs), dtype=np.int64, count=len(inputs))
        rows = np.repeat(np.arange(len(inputs)), lengths)
        tracks = index_of([track for playlist in inputs for track in playlist])
        known = tracks >= 0
        self.width = int(tracks.max(initial=-1)) + 1
        self.codes = np.unique(rows[known] * max(self.width, 1) + tracks[known])
        self.rows = self.codes // max(self.width, 1)
        self.tracks = self.codes % max(self.width, 1)
        """Each distinct (row, track) pair once, by row; shape (pairs,)."""

    def holds(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """Whether row `rows[i]`'s playlist holds track `tracks[i]`; shape (len(rows),)."""
        inside = (tracks >= 0) & (tracks < self.width)
        codes = rows * max(self.width, 1) + np.where(inside, tracks, 0)
        found = np.searchsorted(self.codes, codes)
        hit = found < len(self.codes)
        hit[hit] = self.codes[found[hit]] == codes[hit]
        return hit & inside


def without_played(
    ranks: np.ndarray,
    targets: np.ndarray,
    played: PlayedTracks,
    before: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """Ranks in lists that leave each row's played tracks out, from the `ranks` (rows,) of the
    held-out tracks `targets` (rows,) in the full lists: MISSED where the held-out track was
    played, else the rank less the played tracks `before(rows, tracks)` says precede it."""
    result = ranks.copy()
    result[played.holds(np.arange(len(ranks)), targets)] = MISSED
    pairs = np.flatnonzero(result[played.rows] != MISSED)
    if len(pairs):
        rows, tracks = played.rows[pairs], played.tracks[pairs]
        preceding = before(rows, tracks)
        result -= np.bincount(rows[preceding], minlength=len(ranks))
    return result
