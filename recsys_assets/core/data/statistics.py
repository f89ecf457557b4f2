"""What the training split says without a model: track popularity, which track followed which,
and a fast index from track ids to positions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from recsys_assets.core.data.cases import MISSED


class TrackIndex:
    """Positions of track ids in an array of distinct ids, found by 64-bit hash in C speed."""

    def __init__(self, tracks: np.ndarray) -> None:
        self.tracks = tracks
        hashes = pd.util.hash_array(tracks, categorize=False)
        self.order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[self.order]

    def positions(self, keys: Sequence[str]) -> np.ndarray:
        """Index of each key in the tracks, -1 where absent; shape (len(keys),)."""
        wanted = np.asarray(keys, dtype=object).reshape(-1)
        if not len(self.tracks) or not len(wanted):
            return np.full(len(wanted), -1, dtype=np.int64)
        hashes = pd.util.hash_array(wanted, categorize=False)
        by_hash = np.argsort(hashes)
        at = np.empty(len(hashes), dtype=np.int64)
        at[by_hash] = np.searchsorted(self.hashes, hashes[by_hash])  # sorted keys stay in cache
        found = self.order[np.minimum(at, len(self.order) - 1)]
        result = np.where(self.tracks[found] == wanted, found, -1)
        for row in np.flatnonzero(result < 0):
            position = at[row] + 1
            while position < len(self.hashes) and self.hashes[position] == hashes[row]:
                if self.tracks[self.order[position]] == wanted[row]:
                    result[row] = self.order[position]
                    break
                position += 1
        return result


@dataclass(frozen=True)
class Successors:
    """The tracks that followed each track in the training playlists, most often first.

    For n tracks: `tracks` (n,) sorted ids; the followers of track i are
    `followers[start[i]:start[i + 1]]` (indices into `tracks`) with their counts in `counts`,
    by count, then by `tiebreak` rank (popularity in training).
    """

    tracks: np.ndarray
    start: np.ndarray
    followers: np.ndarray
    counts: np.ndarray

    @cached_property
    def _track_index(self) -> TrackIndex:
        return TrackIndex(self.tracks)

    def index_of(self, keys: Sequence[str]) -> np.ndarray:
        """Index of each key among the tracks, -1 where unseen; shape (len(keys),)."""
        return self._track_index.positions(keys)

    def of(self, index: int, min_count: int = 1) -> np.ndarray:
        """Indices of the tracks that followed track `index` at least `min_count` times."""
        if index < 0:
            return self.followers[:0]
        span = slice(self.start[index], self.start[index + 1])
        return self.followers[span][self.counts[span] >= min_count]

    def compact(self, min_count: int, per_track: int) -> Successors:
        """Only transitions seen at least `min_count` times, at most `per_track` per track, and
        only the tracks those name: what a model file keeps."""
        position = np.arange(len(self.followers)) - np.repeat(self.start[:-1], np.diff(self.start))
        keep = (self.counts >= min_count) & (position < per_track)
        sources = np.repeat(np.arange(len(self.tracks)), np.diff(self.start))[keep]
        followers, counts = self.followers[keep], self.counts[keep]
        used = np.unique(np.concatenate([sources, followers]))
        renumber = np.full(len(self.tracks), -1, dtype=np.int64)
        renumber[used] = np.arange(len(used))
        return Successors(
            tracks=self.tracks[used],
            start=np.searchsorted(renumber[sources], np.arange(len(used) + 1)),
            followers=renumber[followers],
            counts=counts,
        )


@dataclass(frozen=True)
class TrainStatistics:
    """What the baselines, the `popular` cold start and the successor strategies learn from the
    training playlists.

    For n distinct training tracks: `tracks` (n,) sorted ids; `plays` (n,) their occurrences;
    `popularity_rank` (n,) 0-based rank by plays; `by_popularity` (n,) track indices, most played
    first; `successors` over the same tracks.
    """

    tracks: np.ndarray
    plays: np.ndarray
    popularity_rank: np.ndarray
    by_popularity: np.ndarray
    successors: Successors

    @classmethod
    def from_counts(
        cls,
        tracks: np.ndarray,
        plays: np.ndarray,
        sources: np.ndarray,
        followers: np.ndarray,
        counts: np.ndarray,
    ) -> TrainStatistics:
        """The statistics from counts: `tracks` (n,) sorted ids with their `plays` (n,), and each
        distinct transition source -> follower (indices into `tracks`) seen `counts` times, in
        any order; shapes (m,)."""
        n = len(tracks)
        plays = np.asarray(plays, dtype=np.int64)
        popularity_rank = np.empty(n, dtype=np.int64)
        popularity_rank[np.lexsort((np.arange(n), -plays))] = np.arange(n)
        sources, followers = np.asarray(sources, dtype=np.int64), np.asarray(followers, dtype=np.int64)
        counts = np.asarray(counts, dtype=np.int64)
        order = np.lexsort((popularity_rank[followers], -counts, sources))
        return cls.from_ordered(
            tracks, plays, popularity_rank, sources[order], followers[order], counts[order]
        )

    @classmethod
    def from_ordered(
        cls,
        tracks: np.ndarray,
        plays: np.ndarray,
        popularity_rank: np.ndarray,
        sources: np.ndarray,
        followers: np.ndarray,
        counts: np.ndarray,
    ) -> TrainStatistics:
        """The statistics from counts already ranked and ordered: `tracks` (n,) sorted ids with
        their `plays` (n,) and 0-based `popularity_rank` (n,) (most plays first, ties by id), and
        the transitions (m,) ordered by source, then count (most first), then the follower's
        popularity rank."""
        n = len(tracks)
        popularity_rank = np.asarray(popularity_rank, dtype=np.int64)
        by_popularity = np.empty(n, dtype=np.int64)
        by_popularity[popularity_rank] = np.arange(n)
        tracks = np.asarray(tracks, dtype=object)
        return cls(
            tracks=tracks,
            plays=np.asarray(plays, dtype=np.int64),
            popularity_rank=popularity_rank,
            by_popularity=by_popularity,
            successors=Successors(
                tracks=tracks,
                start=np.searchsorted(sources, np.arange(n + 1)),
                followers=np.asarray(followers, dtype=np.int64),
                counts=np.asarray(counts, dtype=np.int64),
            ),
        )

    @cached_property
    def _track_index(self) -> TrackIndex:
        if self.successors.tracks is self.tracks:
            return self.successors._track_index
        return TrackIndex(self.tracks)

    def index_of(self, keys: Sequence[str]) -> np.ndarray:
        """Index of each key among the training tracks, -1 where unseen; shape (len(keys),)."""
        return self._track_index.positions(keys)

    def popularity_rank_of(self, keys: Sequence[str]) -> np.ndarray:
        """Rank of each key in the most-played list, MISSED where unseen; shape (len(keys),)."""
        found = self.index_of(keys)
        return np.where(found >= 0, self.popularity_rank[np.maximum(found, 0)], MISSED)
