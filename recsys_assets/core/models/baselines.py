"""The baselines every model is compared with: the most played tracks, and what followed the last
track (item to item)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from recsys_assets.core.data.cases import EvaluationCases, PlayedTracks, without_played
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.evaluation.evaluator import (
    evaluate,
)
from recsys_assets.core.evaluation.metrics import metric_name
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
    served_list,
)
from recsys_assets.core.models.successors import (
    followers_of,
    popularity_outranks,
    successor_ranks,
    successors_then,
)


def _most_popular(tracks: np.ndarray, order: np.ndarray, plays: np.ndarray, count: int) -> Scored:
    return [(str(tracks[i]), float(plays[i])) for i in order[:count]]


def _without_played_by_popularity(
    statistics: TrainStatistics, cases: EvaluationCases, ranks: np.ndarray
) -> np.ndarray:
    """Popularity ranks `ranks` (rows,) of the held-out tracks in lists without the played ones."""
    targets = statistics.index_of(cases.targets)
    popularity_rank = statistics.popularity_rank

    def before(rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        return popularity_rank[tracks] < popularity_rank[targets[rows]]

    return without_played(ranks, targets, PlayedTracks(cases.inputs, statistics.index_of), before)


class PopularityRecommender:
    """The most played training tracks, the same list for every playlist (a baseline)."""

    def __init__(self, statistics: TrainStatistics, leave_out_played: bool = False) -> None:
        self.statistics = statistics
        self.leaves_out_played = leave_out_played

    def rank(self, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None) -> Ranking:
        statistics = self.statistics
        ranks = statistics.popularity_rank_of(cases.targets)
        if self.leaves_out_played:
            ranks = _without_played_by_popularity(statistics, cases, ranks)
        return Ranking(
            ranks=ranks,
            query_in_vocabulary=statistics.index_of([inputs[-1] for inputs in cases.inputs]) >= 0,
            target_in_vocabulary=statistics.index_of(cases.targets) >= 0,
            coverage=coverage(statistics.by_popularity[:k] if len(cases) else [], len(statistics.tracks)),
        )

    def recommend(self, tracks: Sequence[str], k: int) -> Recommendations:
        check_request(tracks, k)
        return served_list(self._full_list, tracks, k, self.leaves_out_played)

    def _full_list(self, tracks: Sequence[str], k: int) -> Recommendations:
        statistics = self.statistics
        found = _most_popular(statistics.tracks, statistics.by_popularity, statistics.plays, k)
        unknown = [
            track for track, index in zip(tracks, statistics.index_of(tracks), strict=True) if index < 0
        ]
        return Recommendations(found, (PLAYS,) * len(found), "most played tracks in training", unknown)


class FollowersRecommender:
    """What followed the playlist's last track in training, most often first, then the most
    played tracks (the item-to-item baseline)."""

    def __init__(
        self, statistics: TrainStatistics, min_count: int = 1, leave_out_played: bool = False
    ) -> None:
        self.statistics = statistics
        self.min_count = min_count
        self.leaves_out_played = leave_out_played

    def rank(self, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None) -> Ranking:
        statistics = self.statistics
        popularity = PopularityRecommender(statistics, self.leaves_out_played).rank(cases, k)
        ranks = successor_ranks(
            popularity.ranks,
            cases,
            statistics.successors,
            self.min_count,
            popularity_outranks(statistics, statistics.popularity_rank_of(cases.targets)),
            self.leaves_out_played,
        )
        return replace(popularity, ranks=ranks, coverage=self._coverage(cases, k))

    def _coverage(self, cases: EvaluationCases, k: int) -> float:
        """Coverage@K of the lists of the `coverage_rows` of `cases`."""
        statistics = self.statistics
        listed = [
            statistics.index_of([track for track, _ in self.recommend(cases.inputs[row], k).tracks])
            for row in coverage_rows(len(cases))
        ]
        return coverage(np.concatenate(listed) if listed else np.zeros(0), len(statistics.tracks))

    def recommend(self, tracks: Sequence[str], k: int) -> Recommendations:
        check_request(tracks, k)
        return served_list(self._full_list, tracks, k, self.leaves_out_played)

    def _full_list(self, tracks: Sequence[str], k: int) -> Recommendations:
        statistics = self.statistics
        first = followers_of(statistics.successors, tracks[-1], self.min_count)
        rest = _most_popular(statistics.tracks, statistics.by_popularity, statistics.plays, k + len(first))
        unknown = [
            track for track, index in zip(tracks, statistics.index_of(tracks), strict=True) if index < 0
        ]
        query = f"{len(first)} track(s) that followed {tracks[-1]} in training, then the most played"
        return Recommendations(*successors_then(first, rest, k, PLAYS), query, unknown)


def baselines(statistics: TrainStatistics, leave_out_played: bool = False) -> dict[str, Recommender]:
    """The baselines every model is compared with, by name."""
    return {
        "most_popular": PopularityRecommender(statistics, leave_out_played),
        "item_to_item": FollowersRecommender(statistics, leave_out_played=leave_out_played),
    }


def evaluate_baselines(
    statistics: TrainStatistics,
    validation: EvaluationCases,
    test: EvaluationCases,
    k: int,
    data_version: str,
) -> BaselineResults:
    """Every baseline recommender's metrics at cutoff k on both splits, each baseline's lists
    leaving the playlist's own tracks out or keeping them as scores better on validation (keeping
    them on a tie), as the models choose."""
    hit_rate = metric_name("hit_rate", k)
    variants = {leave: baselines(statistics, leave) for leave in (False, True)}
    scored = {
        leave: {name: evaluate(model, validation, k) for name, model in models.items()}
        for leave, models in variants.items()
    }
    leaving = tuple(
        name for name in variants[False] if scored[True][name][hit_rate] > scored[False][name][hit_rate]
    )
    chosen = {name: variants[name in leaving][name] for name in variants[False]}
    return BaselineResults(
        data_version=data_version,
        k=k,
        validation={name: scored[name in leaving][name] for name in chosen},
        test={name: evaluate(model, test, k) for name, model in chosen.items()},
        leaving_out_played=leaving,
    )
