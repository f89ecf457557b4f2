"""Sequential rules: how often, and how closely, track b followed track a in the training
playlists; a playlist's next tracks are the rules of its last tracks, weighted by recency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.sparse import SCORE_DECIMALS, TrackScorer, input_tracks
from recsys_assets.core.models.sparse_files import matrix_arrays

STEP_WEIGHTS = {
    "div": lambda d: 1.0 / d,
    "quadratic": lambda d: 1.0 / d**2,
    "log": lambda d: 1.0 / np.log10(d + 1.7),
    "linear": lambda d: np.maximum(1.0 - 0.1 * d, 0.0),
}
"""The weight of a pair of tracks `d` apart in a playlist, by name."""
RECENCY_WEIGHTS = {
    "div": lambda j: 1.0 / j,
    "exponential": lambda j: np.exp(1.0 - j),
}
"""The weight of the input track `j` places from the end (1 is the last), by name."""


def fit_rules(
    codes: np.ndarray, lengths: np.ndarray, tracks: int, steps: int, weighting: str
) -> sp.csr_matrix:
    """The rules matrix (tracks, tracks): entry (a, b) sums w(d) over every training pair where b
    comes d <= `steps` places after a in one playlist.

    `codes` (words,) are the playlists' track indices one after another, `lengths` (playlists,)
    their lengths.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    weight = STEP_WEIGHTS[weighting]
    codes = np.asarray(codes, dtype=np.int32)
    playlist = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
    rules = sp.csr_matrix((tracks, tracks), dtype=np.float64)
    for distance in range(1, steps + 1):
        w = float(weight(distance))
        if w <= 0 or distance >= len(codes):
            continue
        same = playlist[:-distance] == playlist[distance:]
        pairs = sp.coo_matrix(
            (np.full(int(same.sum()), w), (codes[:-distance][same], codes[distance:][same])),
            shape=(tracks, tracks),
        )
        rules = rules + pairs.tocsr()
    rules.sum_duplicates()
    rules.eliminate_zeros()
    return rules


@dataclass(frozen=True)
class SequentialRules(TrackScorer):
    """A fitted rules model over the training tracks of `statistics`.

    `rules` (tracks, tracks) is `fit_rules`'s matrix; a playlist scores track b by the sum over
    its last `last_n` tracks a (the j-th from the end weighted by `recency`) of rules[a, b].
    """

    score_kind: ClassVar[str] = "rule weight"
    family_name: ClassVar[str] = "rules"

    rules: sp.csr_matrix
    statistics: TrainStatistics
    last_n: int
    recency: str

    def file_layout(self) -> dict[str, Any]:
        return {"family": self.family_name, "last_n": self.last_n, "recency": self.recency}

    def file_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return matrix_arrays(prefix, self.rules, values=True)

    def scores(self, inputs: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """The playlists' scores (playlists, tracks)."""
        row, found, position, length = input_tracks(inputs, self.statistics)
        from_end = length - position + 1
        used = (found >= 0) & (from_end <= self.last_n)
        weights = RECENCY_WEIGHTS[self.recency](from_end[used].astype(np.float64))
        query = sp.csr_matrix(
            (weights, (row[used], found[used])), shape=(len(inputs), len(self.statistics.tracks))
        )
        scored = (query @ self.rules).tocsr()
        scored.data = np.round(scored.data, SCORE_DECIMALS)
        scored.eliminate_zeros()
        return scored

    def describe(self, reached: int, tracks: Sequence[str]) -> str:
        used = min(self.last_n, len(tracks))
        return f"{reached} track(s) that followed the last {used} track(s) in training, then the most played"
