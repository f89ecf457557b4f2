"""Sequential rules against brute-force Python on tiny playlists, and against the item-to-item
baseline they generalise."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_assets.core.data.cases import MISSED
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.baselines import FollowersRecommender
from recsys_assets.core.models.rules.scorer import RECENCY_WEIGHTS, STEP_WEIGHTS, SequentialRules, fit_rules
from recsys_assets_tests.reference import codes_of, next_track_cases, random_playlists, statistics_of


def fitted(
    train: list[list[str]], steps: int, weighting: str, last_n: int = 1, recency: str = "div"
) -> SequentialRules:
    statistics = statistics_of(train)
    codes, lengths = codes_of(train, statistics)
    rules = fit_rules(codes, lengths, len(statistics.tracks), steps, weighting)
    return SequentialRules(rules, statistics, last_n, recency)


def brute_force_list(
    train: list[list[str]], statistics: TrainStatistics, inputs: list[str], steps, weighting, last_n, recency
) -> list[str]:
    """Every training track in the order the rules list them, counted pair by pair."""
    weight, recent = STEP_WEIGHTS[weighting], RECENCY_WEIGHTS[recency]
    rules: dict[tuple[str, str], float] = {}
    for playlist in train:
        for i, a in enumerate(playlist):
            for d in range(1, steps + 1):
                if i + d < len(playlist):
                    rules[a, playlist[i + d]] = rules.get((a, playlist[i + d]), 0.0) + float(weight(d))
    scores: dict[str, float] = {}
    for j, a in enumerate(reversed(inputs[-last_n:]), start=1):
        for (source, b), value in rules.items():
            if source == a and value > 0:
                scores[b] = scores.get(b, 0.0) + float(recent(j)) * value
    popularity = {str(t): int(r) for t, r in zip(statistics.tracks, statistics.popularity_rank, strict=True)}
    return sorted(popularity, key=lambda t: (-scores.get(t, 0.0), popularity[t]))


@pytest.mark.parametrize(
    ("steps", "weighting", "last_n", "recency"),
    [
        (1, "div", 1, "div"),
        (5, "div", 3, "div"),
        (10, "quadratic", 2, "exponential"),
        (4, "log", 5, "div"),
        (12, "linear", 3, "exponential"),
    ],
)
def test_ranks_and_lists_match_brute_force(steps, weighting, last_n, recency):
    train = random_playlists(1)
    model = fitted(train, steps, weighting, last_n=last_n, recency=recency)
    held_out = random_playlists(2, playlists=30, tracks=28)
    cases = next_track_cases(held_out)
    expected_lists = [
        brute_force_list(train, model.statistics, inputs, steps, weighting, last_n, recency)
        for inputs in cases.inputs
    ]
    expected = [
        ordered.index(target) if target in ordered else MISSED
        for ordered, target in zip(expected_lists, cases.targets, strict=True)
    ]
    assert model.rank(cases, 10).ranks.tolist() == expected
    assert MISSED in expected, "the data holds held-out tracks outside training"
    for inputs, ordered in zip(cases.inputs[:5], expected_lists[:5], strict=True):
        assert [track for track, _ in model.recommend(inputs, 7).tracks] == ordered[:7]


def test_one_step_from_the_last_track_is_the_item_to_item_baseline():
    train = random_playlists(3)
    model = fitted(train, 1, "div")
    held_out = random_playlists(4)
    cases = next_track_cases(held_out)
    baseline = FollowersRecommender(model.statistics)
    assert model.rank(cases, 10).ranks.tolist() == baseline.rank(cases, 10).ranks.tolist()
    assert [t for t, _ in model.recommend(["t01", "t03"], 9).tracks] == [
        t for t, _ in baseline.recommend(["t01", "t03"], 9).tracks
    ]


def test_pairs_never_cross_playlists_and_steps_must_be_positive():
    rules = fit_rules(np.array([0, 1, 2, 3]), np.array([2, 2]), 4, steps=3, weighting="div")
    assert rules.toarray().tolist() == [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="steps must be at least 1"):
        fit_rules(np.array([0, 1]), np.array([2]), 2, steps=0, weighting="div")
