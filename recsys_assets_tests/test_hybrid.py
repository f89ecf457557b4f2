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
        for leave in (False, True):
            alone = Hybrid((RULES, KNN), weights, RULES.statistics, 5).leaving_out_played(leave)
            assert ranked[weights][leave].tolist() == alone.rank(CASES, 10).ranks.tolist(), (weights, leave)


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


def trained_configs(folder, configs: dict[str, tuple[str, dict]]):
    """Each named config fitted on TRAIN and validated on CASES, by name."""
    from recsys_assets.core.models.family import FitContext
    from recsys_assets.core.models.registry import make_config
    from recsys_assets.core.models.trained import fit_config
    from recsys_assets_tests.reference import corpus_of, statistics_of

    context = FitContext(corpus_of(TRAIN, folder), statistics_of(TRAIN), CASES, seed=3, k=10)
    models = {
        name: fit_config(make_config("test", family, given, name), context, "test").model
        for name, (family, given) in configs.items()
    }
    return context, models


PARTS = {
    "rules": ("rules", {"steps": 5}),
    "knn": ("session_knn", {"k": 10}),
    "vectors": ("word2vec", {"vector_size": 8, "min_count": 1, "epochs": 3, "window": 3}),
}


def test_a_word2vec_part_scores_the_tracks_most_like_its_query(tmp_path):
    from recsys_assets.core.data.track_ids import split_track_id
    from recsys_assets.core.models.word2vec.strategies import playlist_query

    context, models = trained_configs(tmp_path, {"vectors": PARTS["vectors"]})
    model = models["vectors"]
    part = model.as_part(context.statistics)
    scores = part.scores(CASES.inputs).toarray()
    embedding = model.fitted.embedding
    for row, inputs in enumerate(CASES.inputs):
        query, used = playlist_query(
            inputs,
            split_track_id(inputs[-1])[0],
            embedding.key_to_index,
            embedding.unit,
            model.strategy,
            0,
            {},
        )
        expected = np.zeros(len(context.statistics.tracks))
        if query is not None:
            for index, key in enumerate(embedding.keys):
                similarity = float(embedding.unit[index] @ query)
                if index not in used and similarity > 0:
                    expected[context.statistics.index_of([key])[0]] = round(similarity, 9)
        assert scores[row] == pytest.approx(expected, abs=1e-6), row


def test_a_hybrid_of_named_configs_fuses_their_trained_models_with_the_weights_best_on_validation(tmp_path):
    from dataclasses import replace

    from recsys_assets.core.models.hybrid.family import weight_grid
    from recsys_assets.core.models.registry import make_config
    from recsys_assets.core.models.trained import fit_config, model_bytes, model_from_bytes

    context, models = trained_configs(tmp_path, PARTS)
    asked = []

    def trained_part(key):
        asked.append(key)
        return models[key].as_part(context.statistics)

    config = make_config("test", "hybrid", {"parts": list(PARTS)})
    assert config.key.startswith("hybrid-of-")
    model = fit_config(config, replace(context, trained_part=trained_part), "test").model
    assert asked == list(PARTS)
    weights = model.params["part_weights"]
    assert list(weights) == list(PARTS) and sum(weights.values()) == pytest.approx(1.0)
    parts = tuple(models[key].as_part(context.statistics) for key in PARTS)
    hit_rates = {
        grid: float(np.mean(Hybrid(parts, grid, context.statistics).rank(CASES, 10).ranks < 10))
        for grid in weight_grid(3)
    }
    best = max(hit_rates.values())
    assert hit_rates[tuple(weights.values())] == best
    assert tuple(weights.values()) == next(grid for grid, value in hit_rates.items() if value == best)
    loaded = model_from_bytes(model_bytes(model), "hybrid.npz")
    assert (
        loaded.recommender(context.statistics).rank(CASES, 10).ranks.tolist()
        == model.recommender(context.statistics).rank(CASES, 10).ranks.tolist()
    )
    assert loaded.recommender().recommend(CASES.inputs[0], 5) == model.recommender().recommend(
        CASES.inputs[0], 5
    )


def test_a_hybrid_of_named_configs_without_them_at_hand_says_how_to_train_it(tmp_path):
    from recsys_assets.core.models.registry import make_config
    from recsys_assets.core.models.trained import fit_config

    context, _ = trained_configs(tmp_path, {})
    with pytest.raises(ValueError, match="train it with the configs it names"):
        fit_config(make_config("test", "hybrid", {"parts": ["a", "b"]}), context, "test")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('parts = ["rules-div-last3-recencydiv-steps5", "nothing"]', "part 'nothing' is not another config"),
        ('name = "h"\nparts = ["h", "rules-div-last3-recencydiv-steps5"]', "part 'h' is not another config"),
        ('parts = ["rules-div-last3-recencydiv-steps5"]', "'parts' must name at least 2"),
        ('parts = ["rules-div-last3-recencydiv-steps5", "inner"]', "part 'inner' fuses named configs itself"),
        (
            'parts = ["rules-div-last3-recencydiv-steps5", "knn-k100-div-idf1"]\nknn_k = 5',
            "set 'knn_k' on the config",
        ),
    ],
)
def test_named_parts_must_be_other_configs_of_the_file(text, message):
    from recsys_assets.core.models.parameters import ConfigError
    from recsys_assets.core.search.space import parse_search_space_text

    space = f"""
[[config]]
model = "rules"
steps = 5

[[config]]
model = "session_knn"

[[config]]
name = "inner"
model = "hybrid"
parts = ["rules-div-last3-recencydiv-steps5", "knn-k100-div-idf1"]

[[config]]
model = "hybrid"
{text}
"""
    with pytest.raises(ConfigError, match=message):
        parse_search_space_text(space, "space.toml")


def test_the_search_does_not_try_named_parts():
    import tomllib

    from recsys_assets.core.models.parameters import ConfigError
    from recsys_assets.core.search.space import parse_search_plan

    text = '[search]\ntrials = 2\n[search.hybrid]\nparts = { choices = ["a"] }\n'
    with pytest.raises(ConfigError, match="parts names configs; the search does not try it"):
        parse_search_plan(tomllib.loads(text), "s.toml")
