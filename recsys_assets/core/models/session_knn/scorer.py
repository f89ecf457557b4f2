"""Session kNN (V-SKNN): the training playlists most similar to a playlist's tracks, weighted
toward its last ones, vote for the tracks they hold."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.sparse import SCORE_DECIMALS, TrackScorer, input_tracks, largest_per_row
from recsys_assets.core.models.sparse_files import matrix_arrays

POSITION_WEIGHTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "linear": lambda p, n: p / n,
    "div": lambda p, n: 1.0 / (n - p + 1),
    "quadratic": lambda p, n: 1.0 / (n - p + 1) ** 2,
    "log": lambda p, n: 1.0 / np.log10(n - p + 2.7),
}
"""The weight of an input track at 1-based position `p` of `n`, by name (the last track is p = n)."""


def playlist_matrix(codes: np.ndarray, lengths: np.ndarray, tracks: int) -> sp.csr_matrix:
    """Which training playlist holds which track, shape (playlists, tracks), entries 1.

    `codes` (words,) are the playlists' track indices one after another, `lengths` (playlists,)
    their lengths."""
    playlist = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    matrix = sp.csr_matrix(
        (np.ones(len(codes), dtype=np.float64), (playlist, np.asarray(codes, dtype=np.int32))),
        shape=(len(lengths), tracks),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def playlist_positions(codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The 1-based position of each entry of `playlist_matrix(codes, lengths, ...)` in its
    playlist (a track played twice: its last position); shape (entries,)."""
    playlist = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    position = np.arange(len(codes)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1
    codes = np.asarray(codes, dtype=np.int64)
    order = np.lexsort((position, codes, playlist))
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (playlist[order][1:] != playlist[order][:-1]) | (codes[order][1:] != codes[order][:-1])
    return position[order][last].astype(np.int32)


def _top_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's `k` largest entries (ties toward the earlier column), the rest dropped."""
    matrix = matrix.tocsr()
    row, _, entry = largest_per_row(matrix, k, matrix.indices)
    return sp.csr_matrix((matrix.data[entry], (row, matrix.indices[entry])), shape=matrix.shape)


@dataclass(frozen=True)
class SessionKnn(TrackScorer):
    """A fitted V-SKNN model over the training tracks of `statistics`.

    `playlists` (playlists, tracks) marks the tracks of each training playlist. A playlist's
    neighbours are the `k` training playlists with the largest similarity (ties: the earlier
    playlist), the sum of its tracks' `weighting` weights over the tracks they share; each
    neighbour adds its similarity to every track it holds, times (1 + `idf_weight` * idf) of the
    track, and with a `decay` > 0 times exp(-|q - m| / decay), q the track's position in the
    neighbour and m that of the playlist's most recent track the neighbour holds (STAN's decay
    around the matched track); `positions` (entries,) are then `playlist_positions`.
    """

    score_kind: ClassVar[str] = "neighbour similarity"
    family_name: ClassVar[str] = "session_knn"

    playlists: sp.csr_matrix
    statistics: TrainStatistics
    k: int
    weighting: str
    idf_weight: float
    decay: float
    positions: np.ndarray | None = None
    rows_per_batch: int = 256
    """Rows scored at once: each may share tracks with thousands of training playlists."""

    def file_layout(self) -> dict[str, Any]:
        return {
            "family": self.family_name,
            "k": self.k,
            "weighting": self.weighting,
            "idf_weight": self.idf_weight,
            "decay": self.decay,
        }

    def file_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        arrays = matrix_arrays(prefix, self.playlists, values=False)
        if self.positions is not None:
            arrays[f"{prefix}positions"] = self.positions.astype(np.int32)
        return arrays

    def __post_init__(self) -> None:
        if self.decay and (self.positions is None or len(self.positions) != self.playlists.nnz):
            raise ValueError("a session kNN with a decay needs the position of every playlist entry")

    @cached_property
    def _track_playlists(self) -> sp.csr_matrix:
        """Which training playlists hold each track, shape (tracks, playlists)."""
        return self.playlists.T.tocsr()

    @cached_property
    def _track_factor(self) -> np.ndarray:
        """(1 + idf_weight * log(playlists / playlists holding the track)), shape (tracks,)."""
        holding = np.bincount(self.playlists.indices, minlength=self.playlists.shape[1])
        idf = np.log(self.playlists.shape[0] / np.maximum(holding, 1))
        return 1.0 + self.idf_weight * idf

    def scores(self, inputs: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """The playlists' scores (playlists, tracks)."""
        row, found, position, length = input_tracks(inputs, self.statistics)
        known = found >= 0
        query = _max_duplicates(
            row[known],
            found[known],
            POSITION_WEIGHTS[self.weighting](position[known].astype(np.float64), length[known]),
            (len(inputs), len(self.statistics.tracks)),
        )
        similarity = (query @ self._track_playlists).tocsr()
        similarity.data = np.round(similarity.data, SCORE_DECIMALS)
        neighbours = _top_per_row(similarity, self.k)
        if self.decay:
            played = _max_duplicates(row[known], found[known], position[known], query.shape)
            scored = self._decayed_votes(neighbours, played)
        else:
            scored = (neighbours @ self.playlists).tocsr()
        if self.idf_weight:
            scored.data *= self._track_factor[scored.indices]
        scored.data = np.round(scored.data, SCORE_DECIMALS)
        scored.eliminate_zeros()
        return scored

    def _decayed_votes(self, neighbours: sp.csr_matrix, played: sp.csr_matrix) -> sp.csr_matrix:
        """Each neighbour's similarity given to its tracks, decayed by their distance from the
        matched track; `played` (rows, tracks) holds each playlist's tracks' last positions."""
        rows, tracks = played.shape
        pairs = neighbours.nnz
        if not pairs:
            return sp.csr_matrix((rows, tracks))
        start = self.playlists.indptr[neighbours.indices]
        counts = self.playlists.indptr[neighbours.indices + 1] - start
        indptr = np.concatenate(([0], np.cumsum(counts)))
        entry = np.repeat(start - indptr[:-1], counts) + np.arange(indptr[-1])
        held = sp.csr_matrix(
            (np.ones(len(entry)), self.playlists.indices[entry], indptr), shape=(pairs, tracks)
        )
        pair_row = np.repeat(np.arange(rows), np.diff(neighbours.indptr))
        shared = held.multiply(played[pair_row]).tocsr()
        latest = np.maximum.reduceat(shared.data, shared.indptr[:-1])
        newest = shared.data == np.repeat(latest, np.diff(shared.indptr))
        matched_track = np.empty(pairs, dtype=np.int64)
        matched_track[np.repeat(np.arange(pairs), np.diff(shared.indptr))[newest]] = shared.indices[newest]
        pair_of = np.repeat(np.arange(pairs), counts)
        position = self.positions[entry]
        at_match = held.indices == matched_track[pair_of]
        matched_position = np.empty(pairs)
        matched_position[pair_of[at_match]] = position[at_match]
        with np.errstate(over="ignore", under="ignore"):
            # A tiny decay leaves only the matched position its vote (exp(-inf) is 0).
            held.data = np.exp(-np.abs(position - matched_position[pair_of]) / self.decay)
        similarity = sp.csr_matrix(
            (neighbours.data, np.arange(pairs), neighbours.indptr), shape=(rows, pairs)
        )
        return (similarity @ held).tocsr()

    def describe(self, reached: int, tracks: Sequence[str]) -> str:
        return f"{reached} track(s) of the {self.k} most similar training playlists, then the most played"


def _max_duplicates(
    row: np.ndarray, col: np.ndarray, data: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """A matrix of the entries, a repeated (row, column) kept once at its largest value: a track
    played twice counts at its most recent position."""
    order = np.lexsort((-data, col, row))
    row, col, data = row[order], col[order], data[order]
    first = np.ones(len(row), dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    return sp.csr_matrix((data[first], (row[first], col[first])), shape=shape)
