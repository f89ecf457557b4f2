"""Session kNN against brute-force Python on tiny playlists."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recsys_assets.core.data.cases import MISSED
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.session_knn.scorer import (
    POSITION_WEIGHTS,
    SessionKnn,
    playlist_matrix,
    playlist_positions,
)
from recsys_assets.core.models.sparse import top_tracks
from recsys_assets_tests.reference import codes_of, next_track_cases, random_playlists, statistics_of


def fitted(
    train: list[list[str]], k: int, weighting: str, idf_weight: float, decay: float = 0.0
) -> SessionKnn:
    statistics = statistics_of(train)
    codes, lengths = codes_of(train, statistics)
    matrix = playlist_matrix(codes, lengths, len(statistics.tracks))
    positions = playlist_positions(codes, lengths) if decay else None
    return SessionKnn(matrix, statistics, k, weighting, idf_weight, decay, positions)


def last_position(playlist: list[str], track: str) -> int:
    return max(place for place, t in enumerate(playlist, start=1) if t == track)


def brute_force_list(
    train: list[list[str]],
    statistics: TrainStatistics,
    inputs: list[str],
    k: int,
    weighting: str,
    idf_weight,
    decay: float = 0.0,
) -> list[str]:
    """Every training track in the order V-SKNN lists it, neighbour by neighbour (with a decay,
    each vote times exp(-distance to the neighbour's track matching the latest input / decay))."""
    n = len(inputs)
    weight: dict[str, float] = {}
    for p, track in enumerate(inputs, start=1):
        value = float(POSITION_WEIGHTS[weighting](np.float64(p), float(n)))
        weight[track] = max(weight.get(track, 0.0), value)
    similarity = {
        s: round(sum(weight.get(t, 0.0) for t in set(playlist)), 9) for s, playlist in enumerate(train)
    }
    ranked = sorted((s for s in similarity if similarity[s] > 0), key=lambda s: (-similarity[s], s))
    scores: dict[str, float] = {}
    for s in ranked[:k]:
        matched = max((t for t in set(train[s]) if t in weight), key=lambda t: last_position(inputs, t))
        for track in set(train[s]):
            distance = abs(last_position(train[s], track) - last_position(train[s], matched))
            vote = similarity[s] * (math.exp(-distance / decay) if decay else 1.0)
            scores[track] = scores.get(track, 0.0) + vote
    holding = {str(t): sum(str(t) in playlist for playlist in train) for t in statistics.tracks}
    for track in scores:
        scores[track] *= 1 + idf_weight * math.log(len(train) / holding[track])
    popularity = {str(t): int(r) for t, r in zip(statistics.tracks, statistics.popularity_rank, strict=True)}
    return sorted(popularity, key=lambda t: (-round(scores.get(t, 0.0), 9), popularity[t]))


@pytest.mark.parametrize(
    ("k", "weighting", "idf_weight", "decay"),
    [
        (5, "linear", 0.0, 0.0),
        (10, "div", 0.0, 0.0),
        (3, "quadratic", 1.0, 0.0),
        (50, "log", 0.5, 0.0),
        (1, "linear", 0.0, 0.0),
        (10, "div", 0.0, 2.0),
        (50, "linear", 1.0, 0.5),
    ],
)
def test_ranks_and_lists_match_brute_force(k, weighting, idf_weight, decay):
    train = random_playlists(5, playlists=60, tracks=30)
    model = fitted(train, k=k, weighting=weighting, idf_weight=idf_weight, decay=decay)
    held_out = random_playlists(6, playlists=30, tracks=33)
    cases = next_track_cases(held_out)
    expected_lists = [
        brute_force_list(train, model.statistics, inputs, k, weighting, idf_weight, decay)
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
    statistics = model.statistics
    for cutoff in (1, 7, 40):
        top = top_tracks(
            model.scores(cases.inputs), cutoff, statistics.by_popularity, statistics.popularity_rank
        )
        assert [statistics.tracks[row].tolist() for row in top] == [o[:cutoff] for o in expected_lists]
        listed = {track for ordered in expected_lists for track in ordered[:cutoff]}
        assert model.rank(cases, cutoff).coverage == len(listed) / len(statistics.tracks)


def test_a_decay_without_every_entrys_position_is_refused():
    train = random_playlists(5, playlists=20, tracks=10)
    statistics = statistics_of(train)
    codes, lengths = codes_of(train, statistics)
    matrix = playlist_matrix(codes, lengths, len(statistics.tracks))
    with pytest.raises(ValueError, match="position of every playlist entry"):
        SessionKnn(matrix, statistics, k=5, weighting="div", idf_weight=1.0, decay=2.0)
    with pytest.raises(ValueError, match="position of every playlist entry"):
        SessionKnn(matrix, statistics, 5, "div", 1.0, 2.0, positions=playlist_positions(codes, lengths)[:-1])


def test_a_tiny_decay_leaves_only_the_matched_position_its_vote_without_overflow_warnings():
    train = random_playlists(3)
    cases = next_track_cases(random_playlists(4, playlists=20))
    with np.errstate(all="raise"):
        tiny = fitted(train, 20, "div", 1.0, decay=1e-300).rank(cases, 10).ranks
    assert tiny.tolist() == fitted(train, 20, "div", 1.0, decay=1e-6).rank(cases, 10).ranks.tolist()
