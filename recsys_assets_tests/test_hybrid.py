"""The hybrid against a dense numpy fusion of its parts on tiny playlists."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_assets.core.data.cases import MISSED
from recsys_assets.core.models.hybrid.scorer import Hybrid
from recsys_assets_tests import test_rules, test_session_knn
from recsys_assets_tests.reference import next_track_cases, random_playlists

TRAIN = random_playlists(7, playlists=60, tracks=30)
RULES = test_rules.fitted(TRAIN, 5, "div", last_n=3)
KNN = test_session_knn.fitted(TRAIN, k=10, weighting="div", idf_weight=1.0)
HELD_OUT = random_playlists(8, playlists=40, tracks=33)
CASES = next_track_cases(HELD_OUT)


def dense_ranks(weights: tuple[float, float], candidates: int | None = None) -> list[int]:
    """Ranks from the parts' scores as dense arrays, each row cut to its `candidates` best
    scores and divided by its maximum, summed in numpy."""
    statistics = RULES.statistics
    fused = np.zeros((len(CASES), len(statistics.tracks)))
    for part, weight in zip((RULES, KNN), weights, strict=True):
        dense = part.scores(CASES.inputs).toarray()
        if candidates is not None:
            kth_best = -np.sort(-dense, axis=1)[:, candidates - 1 : candidates]
            dense = np.where(dense >= kth_best, dense, 0.0)
        largest = dense.max(axis=1, keepdims=True)
        fused += weight * np.divide(dense, largest, out=np.zeros_like(dense), where=largest > 0)
    fused = np.round(fused, 9)
    ranks = []
    for row, target in enumerate(CASES.targets):
        order = np.lexsort((statistics.popularity_rank, -fused[row]))
        listed = [str(statistics.tracks[i]) for i in order]
        ranks.append(listed.index(target) if target in listed else MISSED)
    return ranks


@pytest.mark.parametrize("weights", [(0.7, 0.3), (0.5, 0.5), (0.2, 0.8)])
def test_ranks_match_a_dense_fusion_of_the_parts(weights):
    hybrid = Hybrid((RULES, KNN), weights, RULES.statistics)
    assert hybrid.rank(CASES, 10).ranks.tolist() == dense_ranks(weights)


@pytest.mark.parametrize("candidates", [1, 3, 8])
def test_each_part_passes_on_only_its_best_candidates(candidates):
    hybrid = Hybrid((RULES, KNN), (0.6, 0.4), RULES.statistics, candidates)
    expected = dense_ranks((0.6, 0.4), candidates)
    assert expected != dense_ranks((0.6, 0.4))
    assert hybrid.rank(CASES, 10).ranks.tolist() == expected


def test_a_single_weighted_part_ranks_as_that_part():
    hybrid = Hybrid((RULES, KNN), (1.0, 0.0), RULES.statistics)
    assert hybrid.rank(CASES, 10).ranks.tolist() == RULES.rank(CASES, 10).ranks.tolist()
    assert [t for t, _ in hybrid.recommend(CASES.inputs[0], 5).tracks] == [
        t for t, _ in RULES.recommend(CASES.inputs[0], 5).tracks
    ]


@pytest.mark.parametrize("weights", [(-1.0, 1.0), (float("nan"), 1.0), (0.0, 0.0), (1.0,)])
def test_bad_weights_are_refused(weights):
    with pytest.raises(ValueError, match="weight"):
        Hybrid((RULES, KNN), weights, RULES.statistics)


def test_no_candidates_is_refused():
    with pytest.raises(ValueError, match="candidates"):
        Hybrid((RULES, KNN), (0.5, 0.5), RULES.statistics, 0)


def test_one_scoring_of_the_parts_ranks_every_weight_of_a_grid_as_its_own_hybrid():
    grid = [(0.1, 0.9), (0.5, 0.5), (0.9, 0.1), (1.0, 0.0)]
    ranked = Hybrid((RULES, KNN), grid[0], RULES.statistics, 5).ranks_for_weights(CASES, grid)
    for weights in grid:
        alone = Hybrid((RULES, KNN), weights, RULES.statistics, 5).rank(CASES, 10).ranks
        assert ranked[weights].tolist() == alone.tolist()


def test_a_hybrid_file_written_before_the_candidate_cut_still_fuses_every_scored_track():
    import json

    from recsys_assets.core.models.registry import FAMILIES
    from recsys_assets.core.models.sparse_files import read_track_scorer, track_scorer_arrays

    arrays = track_scorer_arrays(Hybrid((RULES, KNN), (0.6, 0.4), RULES.statistics, 3))
    layout = json.loads(arrays["scorer_layout"].tobytes())
    assert layout.pop("candidates") == 3
    arrays["scorer_layout"] = np.frombuffer(json.dumps(layout).encode(), dtype=np.uint8)
    loaded = read_track_scorer(arrays, {}, FAMILIES)
    assert loaded.candidates is None
    assert loaded.rank(CASES, 10).ranks.tolist() == dense_ranks((0.6, 0.4))
