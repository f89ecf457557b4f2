"""The baselines every model is compared with: the most played tracks, and what followed the last
track (item to item)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.evaluation.evaluator import (
    evaluate,
)
from recsys_assets.core.evaluation.ranking import ProgressCallback, Ranking, coverage, coverage_rows
from recsys_assets.core.evaluation.reports import (
    BaselineResults,
)
from recsys_assets.core.models.base import (
    PLAYS,
    Recommendations,
    Recommender,
    Scored,
    check_request,
)
from recsys_assets.core.models.successors import (
    followers_of,
    popularity_outranks,
    successor_ranks,
    successors_then,
)


def _most_popular(tracks: np.ndarray, order: np.ndarray, plays: np.ndarray, count: int) -> Scored:
    return [(str(tracks[i]), float(plays[i])) for i in order[:count]]


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
            coverage=coverage(statistics.by_popularity[:k] if len(cases) else [], len(statistics.tracks)),
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
        """Coverage@K of the lists of the `coverage_rows` of `cases` (a list depends only on the
        last track, so each distinct one is listed once)."""
        statistics = self.statistics
        last = [cases.inputs[row][-1] for row in coverage_rows(len(cases))]
        listed = [
            statistics.index_of([track for track, _ in self.recommend([track], k).tracks])
            for track in set(last)
        ]
        return coverage(np.concatenate(listed) if listed else np.zeros(0), len(statistics.tracks))

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


def baselines(statistics: TrainStatistics) -> dict[str, Recommender]:
    """The baselines every model is compared with, by name."""
    return {
        "most_popular": PopularityRecommender(statistics),
        "item_to_item": FollowersRecommender(statistics),
    }


def evaluate_baselines(
    statistics: TrainStatistics,
    validation: EvaluationCases,
    test: EvaluationCases,
    k: int,
    data_version: str,
) -> BaselineResults:
    """Every baseline recommender's metrics at cutoff k on both splits."""
    models = baselines(statistics)
    return BaselineResults(
        data_version=data_version,
        k=k,
        validation={name: evaluate(model, validation, k) for name, model in models.items()},
        test={name: evaluate(model, test, k) for name, model in models.items()},
    )
