"""What the training playlists say without embeddings: popularity and track-to-track transitions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd

from recsys_assets.core.metrics import MISSED, EvaluationCases


@dataclass(frozen=True)
class TrainStatistics:
    """What the baselines and the `popular` cold start learn from the training playlists.

    For n distinct training tracks: `tracks` (n,) sorted ids; `popularity_rank` (n,) 0-based rank
    by plays; `by_popularity` (n,) track indices, most played first; `followers` the tracks that
    followed each track, most often first, track i's at `follower_start[i]:follower_start[i + 1]`.
    """

    tracks: np.ndarray
    popularity_rank: np.ndarray
    by_popularity: np.ndarray
    follower_start: np.ndarray
    followers: np.ndarray

    @classmethod
    def from_sequences(cls, track_sequences: Sequence[Sequence[str]]) -> TrainStatistics:
        lengths = np.fromiter((len(s) for s in track_sequences), dtype=np.int64, count=len(track_sequences))
        tokens = np.fromiter(chain.from_iterable(track_sequences), dtype=object, count=int(lengths.sum()))
        codes, tracks = pd.factorize(tokens, sort=True)
        n = len(tracks)
        counts = np.bincount(codes, minlength=n)
        by_popularity = np.lexsort((np.arange(n), -counts))
        popularity_rank = np.empty(n, dtype=np.int64)
        popularity_rank[by_popularity] = np.arange(n)

        continues = np.ones(len(codes), dtype=bool)
        continues[np.cumsum(lengths) - 1] = False
        pairs = codes[:-1][continues[:-1]].astype(np.int64) * n + codes[1:][continues[:-1]]
        pair_keys, pair_counts = np.unique(pairs, return_counts=True)
        source, follower = np.divmod(pair_keys, n)
        order = np.lexsort((popularity_rank[follower], -pair_counts, source))
        return cls(
            tracks=np.asarray(tracks, dtype=object),
            popularity_rank=popularity_rank,
            by_popularity=by_popularity,
            follower_start=np.searchsorted(source[order], np.arange(n + 1)),
            followers=follower[order],
        )

    def index_of(self, keys: Sequence[str]) -> np.ndarray:
        """Index of each key among the training tracks, -1 where unseen; shape (len(keys),)."""
        found = np.searchsorted(self.tracks, np.asarray(keys, dtype=object))
        found = np.minimum(found, len(self.tracks) - 1)
        return np.where(self.tracks[found] == np.asarray(keys, dtype=object), found, -1)

    def popularity_rank_of(self, keys: Sequence[str]) -> np.ndarray:
        """Rank of each key in the most-played list, MISSED where unseen; shape (len(keys),)."""
        found = self.index_of(keys)
        return np.where(found >= 0, self.popularity_rank[np.maximum(found, 0)], MISSED)


def popularity_ranks(train: TrainStatistics, cases: EvaluationCases) -> np.ndarray:
    """Rank of each held-out track in the most-popular-tracks-in-train list; shape (rows,)."""
    return train.popularity_rank_of(cases.targets)


def transition_ranks(train: TrainStatistics, cases: EvaluationCases) -> np.ndarray:
    """Rank of each held-out track in "what followed the last track most often in train",
    topped up with the most popular tracks; shape (rows,)."""
    last = train.index_of([inputs[-1] for inputs in cases.inputs])
    target = train.index_of(cases.targets)
    ranks = np.full(len(cases), MISSED, dtype=np.int64)
    for row in np.flatnonzero(target >= 0):
        followers = (
            train.followers[train.follower_start[last[row]] : train.follower_start[last[row] + 1]]
            if last[row] >= 0
            else train.followers[:0]
        )
        hit = np.flatnonzero(followers == target[row])
        if len(hit):
            ranks[row] = hit[0]
        else:
            better_followers = np.count_nonzero(
                train.popularity_rank[followers] < train.popularity_rank[target[row]]
            )
            ranks[row] = len(followers) + train.popularity_rank[target[row]] - better_followers
    return ranks
