"""The one scoring path: every fitted model ranks held-out tracks for evaluation and lists the
next tracks for a playlist by the same rules, so metrics and recommendations never disagree.

A model family plugs in by implementing `Recommender`; evaluation, selection, the baselines and
`recsys-assets recommend` only call these two methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from recsys_assets.core.cases import EvaluationCases
from recsys_assets.core.embedding import TrackEmbedding
from recsys_assets.core.ranking import (
    COVERAGE_QUERIES,
    ProgressCallback,
    Ranking,
    embedding_outranks,
    embedding_ranks,
    popularity_outranks,
    successor_ranks,
)
from recsys_assets.core.statistics import Successors, TrainStatistics
from recsys_assets.core.strategies import SEED_STRATEGY, QueryStrategy, playlist_query
from recsys_assets.core.track_ids import split_track_id

Scored = list[tuple[str, float]]
"""Tracks with their scores, best first."""


TIMES_FOLLOWED = "times followed"
PLAYS = "plays in training"
SIMILARITY = "cosine similarity"
COUNTED_SCORES = (TIMES_FOLLOWED, PLAYS)
"""Score kinds that count something (shown as whole numbers)."""


@dataclass(frozen=True)
class Recommendations:
    """The top tracks with their scores, what each score is (`kinds`, one per track: e.g.
    `times followed`, `cosine similarity`, `plays in training`), what the query was, and the
    input tracks the model does not know."""

    tracks: Scored
    kinds: tuple[str, ...]
    query: str
    unknown_tracks: list[str]

    def __post_init__(self) -> None:
        if len(self.kinds) != len(self.tracks):
            raise ValueError(f"{len(self.tracks)} track(s) but {len(self.kinds)} score kind(s)")


def next_tracks(
    recommender: Recommender, tracks: Sequence[str], k: int, keep_played: bool = False
) -> Recommendations:
    """The `k` tracks to play after `tracks`: the model's list without the playlist's own
    tracks (kept with `keep_played`)."""
    if keep_played:
        return recommender.recommend(tracks, k)
    played = set(tracks)
    found = recommender.recommend(tracks, k + len(played))
    kept = [row for row in zip(found.tracks, found.kinds, strict=True) if row[0][0] not in played][:k]
    return replace(found, tracks=[track for track, _ in kept], kinds=tuple(kind for _, kind in kept))


class Recommender(Protocol):
    """A fitted next-track model."""

    def rank(self, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None) -> Ranking:
        """The exact 0-based rank of each case's held-out track in the list the model gives for
        its input tracks (`MISSED` where it cannot be listed), and the coverage of the top-`k`
        lists."""
        ...

    def recommend(self, tracks: Sequence[str], k: int) -> Recommendations:
        """The `k` tracks the model lists first after the playlist `tracks`."""
        ...


def check_request(tracks: Sequence[str], k: int) -> None:
    if not tracks:
        raise ValueError("give at least one track")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def followers_of(successors: Successors, track: str, min_count: int) -> Scored:
    """The tracks that followed `track` in training at least `min_count` times, with their
    counts, most often first."""
    index = successors.index_of([track])[0]
    if index < 0:
        return []
    span = slice(successors.start[index], successors.start[index + 1])
    counts = successors.counts[span]
    kept = counts >= min_count
    return [
        (str(track), float(count))
        for track, count in zip(
            successors.tracks[successors.followers[span][kept]], counts[kept], strict=True
        )
    ]


def successors_then(first: Scored, rest: Scored, k: int, rest_kind: str) -> tuple[Scored, tuple[str, ...]]:
    """`first` (followers of the last track), then `rest` without the tracks `first` holds: the
    top `k`, and what each score is."""
    taken = {track for track, _ in first}
    listed = (first + [(track, score) for track, score in rest if track not in taken])[:k]
    followed = min(len(first), k)
    return listed, (TIMES_FOLLOWED,) * followed + (rest_kind,) * (len(listed) - followed)


def _most_popular(tracks: np.ndarray, order: np.ndarray, plays: np.ndarray, count: int) -> Scored:
    return [(str(tracks[i]), float(plays[i])) for i in order[:count]]


def _lists_coverage(lists: Sequence[Sequence[int]], size: int) -> float:
    covered = np.zeros(size, dtype=bool)
    for found in lists:
        covered[np.asarray(found, dtype=np.int64)] = True
    return float(covered.mean()) if size else 0.0


class PopularityRecommender:
    """The most played training tracks, the same list for every playlist (a baseline)."""

    def __init__(self, statistics: TrainStatistics) -> None:
        self.statistics = statistics

    def rank(self, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None) -> Ranking:
        statistics = self.statistics
        return Ranking(
            ranks=statistics.popularity_rank_of(cases.targets),
            query_in_vocabulary=statistics.index_of([inputs[-1] for inputs in cases.inputs]) >= 0,
            target_in_vocabulary=statistics.index_of(cases.targets) >= 0,
            coverage=min(k, len(statistics.tracks)) / len(statistics.tracks)
            if len(statistics.tracks)
            else 0.0,
        )

    def recommend(self, tracks: Sequence[str], k: int) -> Recommendations:
        check_request(tracks, k)
        statistics = self.statistics
        found = _most_popular(statistics.tracks, statistics.by_popularity, statistics.plays, k)
        unknown = [
            track for track, index in zip(tracks, statistics.index_of(tracks), strict=True) if index < 0
        ]
        return Recommendations(found, (PLAYS,) * len(found), "most played tracks in training", unknown)


class FollowersRecommender:
    """What followed the playlist's last track in training, most often first, then the most
    played tracks (the item-to-item baseline)."""

    def __init__(self, statistics: TrainStatistics, min_count: int = 1) -> None:
        self.statistics = statistics
        self.min_count = min_count

    def rank(self, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None) -> Ranking:
        statistics = self.statistics
        popularity = PopularityRecommender(statistics).rank(cases, k)
        ranks = successor_ranks(
            popularity.ranks,
            cases,
            statistics.successors,
            self.min_count,
            popularity_outranks(statistics, popularity.ranks),
        )
        return replace(popularity, ranks=ranks, coverage=self._coverage(cases, k))

    def _coverage(self, cases: EvaluationCases, k: int) -> float:
        """The coverage of the top-`k` lists of up to `COVERAGE_QUERIES` distinct last tracks."""
        statistics = self.statistics
        last = np.unique(statistics.index_of([inputs[-1] for inputs in cases.inputs]))
        sampled = last[np.random.default_rng(0).permutation(len(last))[:COVERAGE_QUERIES]]
        popular = statistics.by_popularity[:k]
        lists = []
        for index in sampled:
            if index < 0:
                lists.append(popular)
                continue
            found = self.recommend([str(statistics.tracks[index])], k).tracks
            lists.append(statistics.index_of([track for track, _ in found]))
        return _lists_coverage(lists, len(statistics.tracks))

    def recommend(self, tracks: Sequence[str], k: int) -> Recommendations:
        check_request(tracks, k)
        statistics = self.statistics
        first = followers_of(statistics.successors, tracks[-1], self.min_count)
        rest = _most_popular(statistics.tracks, statistics.by_popularity, statistics.plays, k + len(first))
        unknown = [
            track for track, index in zip(tracks, statistics.index_of(tracks), strict=True) if index < 0
        ]
        query = f"{len(first)} track(s) that followed {tracks[-1]} in training, then the most played"
        return Recommendations(*successors_then(first, rest, k, PLAYS), query, unknown)


class EmbeddingRecommender:
    """A Word2Vec model under one query strategy: cosine similarity to the playlist's query
    vector, the last track's successors first when the strategy says so.

    Evaluation passes the data build's `statistics` (popularity and every successor); serving
    passes the `successors` the model file keeps and reads popularity from the vectors' counts.
    """

    def __init__(
        self,
        embedding: TrackEmbedding,
        strategy: QueryStrategy = SEED_STRATEGY,
        seed: int = 0,
        statistics: TrainStatistics | None = None,
        successors: Successors | None = None,
    ) -> None:
        self.embedding = embedding
        self.strategy = strategy
        self.seed = seed
        self.statistics = statistics
        if successors is None and statistics is not None:
            successors = statistics.successors
        self.successors = successors

    def rank(self, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None) -> Ranking:
        strategy = self.strategy
        base = replace(strategy, successors_first=False, min_successor_count=1)
        ranking = embedding_ranks(
            self.embedding, cases, self.seed, base, self.statistics, top_k=k, on_progress=on_progress
        )
        if not strategy.successors_first:
            return ranking
        if self.statistics is None:
            raise ValueError("ranking successors first needs training statistics")
        ranks = successor_ranks(
            ranking.ranks,
            cases,
            self.statistics.successors,
            strategy.min_successor_count,
            embedding_outranks(ranking, self.embedding, cases, self.statistics),
        )
        return replace(ranking, ranks=ranks)

    def recommend(self, tracks: Sequence[str], k: int) -> Recommendations:
        """Scores are cosine similarities; when the strategy falls back on the most popular
        tracks, plays in training; successors score the times they followed the last track.
        Tracks the query uses are left out of the embedding's part."""
        check_request(tracks, k)
        strategy, embedding = self.strategy, self.embedding
        if strategy.successors_first and self.successors is None:
            raise ValueError("the strategy ranks successors first, but the model has no successor lists")
        first = (
            followers_of(self.successors, tracks[-1], strategy.min_successor_count)
            if strategy.successors_first
            else []
        )
        unknown = [track for track in tracks if track not in embedding.key_to_index]
        fallback = int(np.random.default_rng(self.seed).integers(0, len(embedding)))
        last_artist = split_track_id(tracks[-1])[0]
        groups = embedding.artist_tracks if strategy.cold_start == "artist" else {}
        query, left_out = playlist_query(
            tracks, last_artist, embedding.key_to_index, embedding.unit, strategy, fallback, groups
        )
        wanted = k + len(first)
        if query is None:
            counts = embedding.counts
            best = np.lexsort((np.arange(len(counts)), -counts))[:wanted]
            rest = [(embedding.keys[i], float(counts[i])) for i in best]
            rest_kind = PLAYS
            described = "most popular tracks (no known track)"
        else:
            scores = embedding.unit @ query
            scores[left_out] = -np.inf
            top = (
                np.argpartition(scores, -wanted)[-wanted:] if wanted < len(scores) else np.arange(len(scores))
            )
            top = top[np.lexsort((top, -scores[top]))]
            rest = [(embedding.keys[i], float(scores[i])) for i in top if np.isfinite(scores[i])]
            rest_kind = SIMILARITY
            used = [embedding.keys[i] for i in left_out]
            if not used:
                described = f"similar to {last_artist}'s known tracks (no known track)"
            elif set(used) & set(tracks):
                described = f"similar to {', '.join(used)}"
            else:
                described = f"similar to random track {used[0]} (no known track)"
        if first:
            described = (
                f"{len(first)} track(s) that followed {tracks[-1]} in training first, then {described}"
            )
        return Recommendations(*successors_then(first, rest, k, rest_kind), described, unknown)


def baselines(statistics: TrainStatistics) -> dict[str, Recommender]:
    """The baselines every model is compared with, by name."""
    return {
        "most_popular": PopularityRecommender(statistics),
        "item_to_item": FollowersRecommender(statistics),
    }
