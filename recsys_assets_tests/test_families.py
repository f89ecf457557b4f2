"""Family configs: defaults, readable keys, refused parameters, and fits equal to the models
built by hand."""

from __future__ import annotations

import pytest

from recsys_assets.core.models.hybrid.parts import part_params
from recsys_assets.core.models.parameters import ConfigError
from recsys_assets.core.models.registry import FAMILIES, config_params
from recsys_assets.core.models.rules.family import build_rules
from recsys_assets.core.models.session_knn.family import build_session_knn
from recsys_assets_tests import test_rules, test_session_knn
from recsys_assets_tests.reference import codes_of, next_track_cases, random_playlists, statistics_of

WHERE = "search_space.toml, config #2"


def test_defaults_complete_a_config_and_name_it_readably():
    rules = config_params(WHERE, "rules", {"steps": 20})
    assert rules == {"weighting": "div", "last_n": 3, "recency": "div", "steps": 20}
    assert FAMILIES["rules"].key(rules) == "rules-div-last3-recencydiv-steps20"
    knn = config_params(WHERE, "session_knn", {"weighting": "linear"})
    assert knn["decay"] == 0.0
    assert FAMILIES["session_knn"].key(knn) == "knn-k100-linear-idf1"
    decaying = config_params(WHERE, "session_knn", {"decay": 2})
    assert FAMILIES["session_knn"].key(decaying) == "knn-k100-div-idf1-decay2"
    hybrid = config_params(WHERE, "hybrid", {"knn_decay": 5})
    assert FAMILIES["hybrid"].key(hybrid) == "hybrid-steps10-last3-k100-decay5"
    assert part_params(hybrid)["session_knn"] == {**decaying, "decay": 5.0}


@pytest.mark.parametrize(
    ("family", "given", "message"),
    [
        ("rules", {"steps": 0}, "rules parameter 'steps' must be >= 1, got 0"),
        ("session_knn", {"k": 0}, "session_knn parameter 'k' must be >= 1, got 0"),
        ("session_knn", {"idf_weight": -1.0}, "'idf_weight' must be >= 0, got -1.0"),
        ("session_knn", {"idf_weight": float("nan")}, "'idf_weight' must be a finite number"),
        ("session_knn", {"decay": -0.5}, "'decay' must be >= 0, got -0.5"),
        ("rules", {"weighting": "cubic"}, "'weighting' must be one of div, quadratic, log, linear"),
        ("rules", {"steps": 2.5}, "'steps' must be int, got 2.5"),
        ("rules", {"steps": True}, "'steps' must be int, got True"),
        ("rules", {"window": 3}, "unknown rules parameter 'window'"),
        ("rules", {"weighting": "linear", "steps": 10}, "so steps = 10 trains the same model as steps = 9"),
        (
            "hybrid",
            {"rules_weighting": "linear", "rules_steps": 12},
            "its sequential rules part (the rules_ parameters): weighting",
        ),
        ("reranker", {"rules_weighting": "linear", "rules_steps": 30}, "steps = 30 trains the same model"),
        ("bayes", {}, "unknown model 'bayes'; expected one of: word2vec, rules, session_knn"),
        (["rules"], {}, "unknown model ['rules']; expected one of"),
    ],
)
def test_bad_parameters_are_refused_naming_file_config_and_parameter(family, given, message):
    with pytest.raises(ConfigError) as error:
        config_params(WHERE, family, given)
    assert str(error.value).startswith(f"{WHERE}: ") and message in str(error.value)


def test_a_fit_equals_the_model_built_by_hand():
    train = random_playlists(9)
    statistics = statistics_of(train)
    codes, lengths = codes_of(train, statistics)
    held_out = random_playlists(10)
    cases = next_track_cases(held_out)
    rules = build_rules(config_params(WHERE, "rules", {"steps": 4}), statistics, codes, lengths)
    by_hand = test_rules.fitted(train, 4, "div", last_n=3)
    assert rules.rank(cases, 10).ranks.tolist() == by_hand.rank(cases, 10).ranks.tolist()
    knn = build_session_knn(config_params(WHERE, "session_knn", {"k": 5}), statistics, codes, lengths)
    by_hand = test_session_knn.fitted(train, k=5, weighting="div", idf_weight=1.0)
    assert knn.rank(cases, 10).ranks.tolist() == by_hand.rank(cases, 10).ranks.tolist()
    params = config_params(WHERE, "session_knn", {"k": 5, "decay": 1.5})
    decaying = build_session_knn(params, statistics, codes, lengths)
    by_hand = test_session_knn.fitted(train, k=5, weighting="div", idf_weight=1.0, decay=1.5)
    assert decaying.rank(cases, 10).ranks.tolist() == by_hand.rank(cases, 10).ranks.tolist()


def test_every_family_reads_back_from_its_model_file_and_ranks_the_same(tmp_path):
    from recsys_assets.core.models.hybrid.scorer import Hybrid
    from recsys_assets.core.models.trained import TrainedModel, load_model, read_summary, save_model
    from recsys_assets.core.models.word2vec.strategies import QueryStrategy

    train = random_playlists(11)
    statistics = statistics_of(train)
    codes, lengths = codes_of(train, statistics)
    held_out = random_playlists(12)
    cases = next_track_cases(held_out)
    rules = build_rules(config_params(WHERE, "rules", {"steps": 4}), statistics, codes, lengths)
    knn = build_session_knn(config_params(WHERE, "session_knn", {"k": 5}), statistics, codes, lengths)
    decaying = build_session_knn(
        config_params(WHERE, "session_knn", {"k": 5, "decay": 1.0}), statistics, codes, lengths
    )
    for family, scorer in (
        ("rules", rules),
        ("session_knn", knn),
        ("session_knn", decaying),
        ("hybrid", Hybrid((rules, knn), (0.7, 0.3), statistics, candidates=3)),
    ):
        model = TrainedModel(
            config_key=family,
            params={},
            seed=1,
            k=10,
            strategy=QueryStrategy(),
            validation={"hit_rate@10": 0.5},
            validation_rows=len(cases),
            train_seconds=0.1,
            family=family,
            fitted=scorer,
        )
        path = tmp_path / f"{family}-{id(scorer)}.npz"
        save_model(model, path)
        loaded = load_model(path)
        assert loaded.family == family == read_summary(str(path)).family
        assert loaded.summary() == model.summary()
        assert loaded.recommender().rank(cases, 10).ranks.tolist() == scorer.rank(cases, 10).ranks.tolist()
        assert loaded.recommender().recommend(cases.inputs[0], 6) == scorer.recommend(cases.inputs[0], 6)


def test_the_verdict_names_the_winning_family_and_its_margin_over_each_other_family():
    from recsys_assets.core.models.trained import (
        ModelSummary,
        best_of_each_family,
        family_margin,
        select_best,
        tie_note,
    )
    from recsys_assets.core.models.word2vec.strategies import QueryStrategy

    def summary(key: str, family: str, rate: float) -> ModelSummary:
        return ModelSummary(
            config_key=key,
            params={},
            seed=1,
            k=100,
            strategy=QueryStrategy(),
            validation={"hit_rate@100": rate},
            validation_rows=10,
            train_seconds=0.0,
            family=family,
            vocabulary_size=5,
        )

    models = {
        m.config_key: m
        for m in (
            summary("w1", "word2vec", 0.60),
            summary("w2", "word2vec", 0.62),
            summary("r", "rules", 0.69),
            summary("h", "hybrid", 0.72),
        )
    }
    assert [m.config_key for m in best_of_each_family(models).values()] == ["h", "r", "w2"]
    said = family_margin(models)
    assert said.startswith("Best family: hybrid (h, 0.7200), ahead of the best")
    assert "sequential rules 0.6900 (1.04x)" in said and "Word2Vec 0.6200 (1.16x)" in said
    assert tie_note(models) is None
    tied = {**models, "a": summary("a", "rules", 0.72)}
    assert select_best(tied).config_key == "a"
    assert tie_note(tied) == "a ties with h on validation (0.7200); ties go to the smallest config key."


def test_the_configuration_guide_shows_the_parameter_tables_the_registry_generates():
    from pathlib import Path

    from recsys_assets.core.models.registry import parameter_tables

    guide = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    shown = guide.split("<!-- parameter tables: generated -->\n")[1].split("<!-- parameter tables: end -->")[
        0
    ]
    assert shown == parameter_tables(), (
        "docs/configuration.md is stale: replace its generated section with what"
        " recsys_assets.core.models.registry.parameter_tables() returns"
    )
