"""The re-ranker: its ranking learns only from playlists its candidate generators never saw, its
features equal a brute-force reading of the playlists, and it lists candidates in its booster's
order."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from recsys_assets.core.models.family import FitContext
from recsys_assets.core.models.hybrid.parts import build_parts
from recsys_assets.core.models.registry import config_params, make_config
from recsys_assets.core.models.reranker.fit import FOLDS, held_out_folds
from recsys_assets.core.models.reranker.scorer import ARTIST_STEPS, CandidateFeatures, feature_names
from recsys_assets.core.models.trained import fit_config
from recsys_assets_tests.reference import codes_of, corpus_of, next_track_cases, statistics_of


def artist_playlists(
    seed: int, playlists: int, artists: int = 6, tracks_per_artist: int = 4
) -> list[list[str]]:
    """Seeded playlists of 3 to 11 tracks whose ids name their artist (`a<artist>|||t<track>`)."""
    rng = np.random.default_rng(seed)
    return [
        [
            f"a{artist}|||t{artist}-{track}"
            for artist, track in zip(
                rng.integers(0, artists, length), rng.integers(0, tracks_per_artist, length), strict=True
            )
        ]
        for length in rng.integers(3, 12, playlists)
    ]


def test_each_fold_holds_its_playlists_out_of_the_generators_and_their_plays():
    playlists = artist_playlists(1, 50)
    statistics = statistics_of(playlists)
    codes, lengths = codes_of(playlists, statistics)
    folds = held_out_folds(statistics, codes, lengths, cases=25, folds=FOLDS, seed=3)
    held_everywhere = []
    for fold in folds:
        held = [
            number
            for number, playlist in enumerate(playlists)
            if (playlist[:-1], playlist[-1]) in zip(fold.cases.inputs, fold.cases.targets, strict=True)
        ]
        assert len(held) == len(fold.cases)
        rest = [playlist for number, playlist in enumerate(playlists) if number not in held]
        rest_codes, rest_lengths = codes_of(rest, statistics)
        assert np.array_equal(fold.codes, rest_codes) and np.array_equal(fold.lengths, rest_lengths)
        played = np.zeros(len(statistics.tracks), dtype=np.int64)
        for track in (track for playlist in rest for track in playlist):
            played[statistics.index_of([track])[0]] += 1
        assert np.array_equal(fold.statistics.plays, played)
        held_everywhere += held
    assert len(held_everywhere) == len(set(held_everywhere)) == 25
    again = held_out_folds(statistics, codes, lengths, cases=25, folds=FOLDS, seed=3)
    assert [fold.cases.targets for fold in again] == [fold.cases.targets for fold in folds]


def brute_force_features(candidates: CandidateFeatures, inputs: list[str]) -> dict[str, list[float]]:
    """Each candidate track's features for one playlist, read off the playlist and the training
    data one track at a time."""
    statistics, per_part = candidates.statistics, candidates.per_part
    proposed = []
    for part in candidates.parts:
        scores = part.scores([inputs]).toarray()[0]
        ordered = sorted(np.flatnonzero(scores > 0), key=lambda track: (-scores[track], track))
        kept = [
            track for track in ordered if scores[track] >= scores[ordered[min(per_part, len(ordered)) - 1]]
        ]
        proposed.append({track: (scores[track] / scores[ordered[0]], ordered.index(track)) for track in kept})
    artist = {index: str(track).split("|||")[0] for index, track in enumerate(statistics.tracks)}
    artist_plays = {name: 0 for name in artist.values()}
    for index, name in artist.items():
        artist_plays[name] += statistics.plays[index]
    input_artists = [track.split("|||")[0] for track in inputs]

    def follows(weights: dict[int, float]) -> dict[str, float]:
        votes: dict[str, float] = {}
        for position, weight in weights.items():
            for playlist in training_playlists:
                names = [track.split("|||")[0] for track in playlist]
                for start, name in enumerate(names):
                    if name != input_artists[position]:
                        continue
                    for distance in range(1, ARTIST_STEPS + 1):
                        if start + distance < len(names):
                            followed = names[start + distance]
                            votes[followed] = votes.get(followed, 0.0) + weight / distance
        top = max(votes.values(), default=1.0)
        return {name: vote / top for name, vote in votes.items()}

    last = len(inputs) - 1
    recent_follows = follows({last - back: 1.0 / (back + 1) for back in range(min(5, len(inputs)))})
    all_follows = follows(dict.fromkeys(range(len(inputs)), 1.0))
    rows = {}
    for track in sorted(set().union(*proposed)):
        name = artist[track]
        part_columns = [
            value
            for offer in proposed
            for value in (offer[track] if track in offer else (0.0, float(per_part)))
        ]
        rows[str(statistics.tracks[track])] = [
            *part_columns,
            math.log1p(statistics.plays[track]),
            math.log1p(artist_plays[name]),
            statistics.plays[track] / max(artist_plays[name], 1),
            float(str(statistics.tracks[track]) in inputs),
            float(name == input_artists[-1]),
            input_artists.count(name) / len(inputs),
            float(name in input_artists[-3:]),
            recent_follows.get(name, 0.0),
            all_follows.get(name, 0.0),
            math.log1p(len(inputs)),
        ]
    return rows


training_playlists = artist_playlists(2, 40)


@pytest.mark.parametrize("per_part", [3, 1000])
def test_candidates_and_their_features_are_a_brute_force_reading_of_the_playlists(per_part: int):
    statistics = statistics_of(training_playlists)
    codes, lengths = codes_of(training_playlists, statistics)
    params = config_params("test", "reranker", {"rules_last_n": 3, "knn_k": 5})
    parts = build_parts(params, statistics, codes, lengths)
    candidates = CandidateFeatures.of_playlists(parts, statistics, per_part, codes, lengths)
    queries = [*artist_playlists(4, 8), ["a9|||unknown", "a1|||t1-0"]]
    union, features = candidates.features(queries)
    assert features.shape[1] == len(feature_names(2))
    for row, inputs in enumerate(queries):
        span = slice(union.indptr[row], union.indptr[row + 1])
        expected = brute_force_features(candidates, inputs)
        found = {
            str(statistics.tracks[track]): list(values)
            for track, values in zip(union.indices[span], features[span], strict=False)
        }
        assert found.keys() == expected.keys(), row
        for track, values in expected.items():
            assert found[track] == pytest.approx(values, rel=1e-5, abs=1e-6), (row, track)


def test_the_reranker_lists_its_candidates_in_its_boosters_order(tmp_path: Path):
    validation = next_track_cases(artist_playlists(5, 30))
    config = make_config("test", "reranker", {"held_out_playlists": 200, "trees": 20, "candidates": 10})
    context = FitContext(
        corpus_of(training_playlists * 5, tmp_path),
        statistics_of(training_playlists * 5),
        validation,
        seed=1,
        k=10,
    )
    model = fit_config(config, context, data_version="test").model
    reranker = model.fitted
    union, features = reranker.candidates.features(validation.inputs)
    relevance = reranker.booster.predict(features)
    scores = reranker.scores(validation.inputs)
    assert np.array_equal(scores.indices, union.indices) and np.array_equal(scores.indptr, union.indptr)
    for row in range(len(validation)):
        span = slice(union.indptr[row], union.indptr[row + 1])
        by_relevance = np.argsort(-relevance[span], kind="stable")
        assert np.all(np.diff(scores.data[span][by_relevance]) <= 1e-9), row
        assert scores.data[span].min() == pytest.approx(1.0)


def test_too_few_learning_cases_are_refused_with_what_to_do(tmp_path: Path):
    tiny = artist_playlists(6, 12)
    config = make_config("test", "reranker", {"candidates": 1})
    context = FitContext(corpus_of(tiny, tmp_path), statistics_of(tiny), next_track_cases(tiny), seed=1, k=10)
    with pytest.raises(
        ValueError, match=r"candidates hold the last track of \d+ of \d+ held-out training playlists"
    ):
        fit_config(config, context, data_version="test")
