"""Sequential rules: how often, and how closely, track b followed track a in the training
playlists; a playlist's next tracks are the rules of its last tracks, weighted by recency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.cases import EvaluationCases
from recsys_assets.core.ranking import COVERAGE_QUERIES, ProgressCallback, Ranking
from recsys_assets.core.recommenders import Recommendations, check_request
from recsys_assets.core.score_ranking import scored_ranks, top_tracks
from recsys_assets.core.statistics import TrainStatistics

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
ROWS_PER_BATCH = 2_048
"""Query rows scored at once."""


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
class SequentialRules:
    """A fitted rules model over the training tracks of `statistics`.

    `rules` (tracks, tracks) is `fit_rules`'s matrix; a playlist scores track b by the sum over
    its last `last_n` tracks a (the j-th from the end weighted by `recency`) of rules[a, b].
    """

    rules: sp.csr_matrix
    statistics: TrainStatistics
    last_n: int = 1
    recency: str = "div"

    def scores(self, inputs: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """The playlists' scores (playlists, tracks)."""
        weight = RECENCY_WEIGHTS[self.recency]
        rows, columns, values = [], [], []
        for row, tracks in enumerate(inputs):
            last = list(tracks[-self.last_n :])[::-1]
            found = self.statistics.index_of(last)
            for position, index in enumerate(found, start=1):
                if index >= 0:
                    rows.append(row)
                    columns.append(index)
                    values.append(weight(position))
        n = len(self.statistics.tracks)
        query = sp.csr_matrix((values, (rows, columns)), shape=(len(inputs), n))
        scored = (query @ self.rules).tocsr()
        scored.eliminate_zeros()
        return scored

    def rank(self, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None) -> Ranking:
        statistics = self.statistics
        targets = statistics.index_of(cases.targets)
        ranks = np.empty(len(cases), dtype=np.int64)
        for start in range(0, len(cases), ROWS_PER_BATCH):
            stop = min(start + ROWS_PER_BATCH, len(cases))
            ranks[start:stop] = scored_ranks(
                self.scores(cases.inputs[start:stop]), targets[start:stop], statistics.popularity_rank
            )
            if on_progress:
                on_progress("scored playlists", stop, len(cases))
        return Ranking(
            ranks=ranks,
            query_in_vocabulary=statistics.index_of([inputs[-1] for inputs in cases.inputs]) >= 0,
            target_in_vocabulary=targets >= 0,
            coverage=self._coverage(cases, k),
        )

    def _coverage(self, cases: EvaluationCases, k: int) -> float:
        """The share of tracks in the top-`k` lists of up to `COVERAGE_QUERIES` sampled rows."""
        statistics = self.statistics
        n = len(statistics.tracks)
        if not n or not len(cases):
            return 0.0
        sample = np.random.default_rng(0).permutation(len(cases))[:COVERAGE_QUERIES]
        scores = self.scores([cases.inputs[row] for row in sample])
        covered = np.zeros(n, dtype=bool)
        for row in range(scores.shape[0]):
            covered[top_tracks(scores[row], k, statistics.by_popularity, statistics.popularity_rank)] = True
        return float(covered.mean())

    def recommend(self, tracks: Sequence[str], k: int) -> Recommendations:
        """Scores are summed rule weights; tracks no rule reaches follow by plays, scored 0."""
        check_request(tracks, k)
        statistics = self.statistics
        row = self.scores([tracks])
        top = top_tracks(row, k, statistics.by_popularity, statistics.popularity_rank)
        values = row.toarray()[0]
        unknown = [t for t, i in zip(tracks, statistics.index_of(tracks), strict=True) if i < 0]
        used = min(self.last_n, len(tracks))
        reached = int(np.count_nonzero(values[top]))
        query = (
            f"{reached} track(s) that followed the last {used} track(s) in training (rule weight),"
            " then the most played"
        )
        return Recommendations([(str(statistics.tracks[i]), float(values[i])) for i in top], query, unknown)
