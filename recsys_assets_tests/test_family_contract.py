"""What every family in the registry must do, checked for each: a fit through the registry ranks
each held-out track where `recommend` lists it, reads back whole from its model file, refuses
each bad parameter naming it, and is deterministic. A new family is covered by registering it."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import pytest

from recsys_assets.core.data.cases import MISSED
from recsys_assets.core.models.family import FitContext
from recsys_assets.core.models.parameters import ConfigError, Parameter
from recsys_assets.core.models.registry import FAMILIES, config_params, make_config
from recsys_assets.core.models.trained import TrainedModel, fit_config, model_bytes, model_from_bytes
from recsys_assets_tests.reference import corpus_of, next_track_cases, random_playlists, statistics_of

FAST = {"word2vec": {"vector_size": 8, "min_count": 1, "epochs": 2, "window": 3}}
"""Parameters that keep a family's fit on tiny data quick; every other family fits its defaults."""
K = 10
WHERE = "contract.toml, config #1"


def fitted(family: str) -> TrainedModel:
    """The family's config (its defaults, or `FAST`) fitted on seeded tiny playlists."""
    train = random_playlists(31, playlists=60, tracks=30)
    cases = next_track_cases(random_playlists(32, playlists=20, tracks=30))
    config = make_config(WHERE, family, FAST.get(family, {}))
    with tempfile.TemporaryDirectory(prefix="recsys-contract-") as folder:
        context = FitContext(corpus_of(train, Path(folder)), statistics_of(train), cases, seed=5, k=K)
        return fit_config(config, context, data_version="contract").model


def held_out():
    return statistics_of(random_playlists(31, playlists=60, tracks=30)), next_track_cases(
        random_playlists(32, playlists=20, tracks=30)
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_rank_is_the_place_in_recommend_when_evaluated_and_when_served(family: str):
    model = fitted(family)
    statistics, cases = held_out()
    evaluated, served = model.recommender(statistics), model_from_bytes(model_bytes(model), "m").recommender()
    ranks = evaluated.rank(cases, K).ranks
    for row, (inputs, target) in enumerate(zip(cases.inputs, cases.targets, strict=True)):
        listed = [track for track, _ in served.recommend(inputs, K).tracks]
        assert listed == [track for track, _ in evaluated.recommend(inputs, K).tracks], (family, row)
        if target in listed:
            assert ranks[row] == listed.index(target), (family, row)
        else:
            assert ranks[row] >= K or ranks[row] == MISSED, (family, row)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_list_without_the_played_tracks_is_the_full_list_without_them_and_ranks_by_it(family: str):
    model = fitted(family)
    statistics, cases = held_out()
    keeping = model.recommender(statistics, leave_out_played=False)
    leaving = model.recommender(statistics, leave_out_played=True)
    ranks = leaving.rank(cases, K).ranks
    for row, (inputs, target) in enumerate(zip(cases.inputs, cases.targets, strict=True)):
        full = [track for track, _ in keeping.recommend(inputs, K + len(set(inputs))).tracks]
        listed = [track for track, _ in leaving.recommend(inputs, K).tracks]
        assert listed == [track for track in full if track not in inputs][:K], (family, row)
        if target in listed:
            assert ranks[row] == listed.index(target), (family, row)
        else:
            assert ranks[row] >= K or ranks[row] == MISSED, (family, row)
        if target in inputs:
            assert ranks[row] == MISSED, (family, row)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_served_list_is_the_one_validated_and_recorded_in_the_model_file(family: str):
    model = fitted(family)
    loaded = model_from_bytes(model_bytes(model), f"{family}.npz")
    assert loaded.leaves_out_played == model.leaves_out_played
    statistics, cases = held_out()
    inputs = cases.inputs[0]
    served = [track for track, _ in loaded.recommender().recommend(inputs, K).tracks]
    if model.leaves_out_played:
        assert not set(served) & set(inputs)
    assert served == [
        track
        for track, _ in model.recommender(statistics, leave_out_played=model.leaves_out_played)
        .recommend(inputs, K)
        .tracks
    ]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_model_reads_back_whole_from_its_file(family: str):
    model = fitted(family)
    statistics, cases = held_out()
    loaded = model_from_bytes(model_bytes(model), f"{family}.npz")
    assert loaded.summary() == model.summary()
    assert loaded.family == family and loaded.method == model.method
    assert (
        loaded.recommender(statistics).rank(cases, K).ranks.tolist()
        == model.recommender(statistics).rank(cases, K).ranks.tolist()
    )
    assert [loaded.recommender().recommend(inputs, K) for inputs in cases.inputs[:5]] == [
        model.recommender().recommend(inputs, K) for inputs in cases.inputs[:5]
    ]


@pytest.mark.parametrize("family", FAMILIES)
def test_the_same_data_config_and_seed_fit_the_same_model(family: str):
    statistics, cases = held_out()
    first, second = fitted(family), fitted(family)
    assert first.validation == second.validation and first.params == second.params
    assert (
        first.recommender(statistics).rank(cases, K).ranks.tolist()
        == second.recommender(statistics).rank(cases, K).ranks.tolist()
    )


def bad_values(parameter: Parameter) -> list[Any]:
    """Values the parameter must refuse: another type, and each side of its bounds or choices."""
    values: list[Any] = ["text" if parameter.kind is not str else 3, [1]]
    if parameter.choices:
        values.append("no such choice")
    if parameter.kind is bool:
        values.append(1)
    if parameter.kind is int:
        values += [1.5, True]
    if parameter.kind is float:
        values.append(math.nan)
    if parameter.minimum is not None:
        values.append(parameter.minimum if parameter.minimum_excluded else parameter.minimum - 1)
    if parameter.maximum is not None:
        values.append(parameter.maximum + 1)
    if not parameter.optional:
        values.append(None)
    return values


@pytest.mark.parametrize(
    ("family", "name", "value"),
    [
        (family.name, name, value)
        for family in FAMILIES.values()
        for name, parameter in family.parameters.items()
        for value in bad_values(parameter)
    ],
)
def test_each_bad_parameter_is_refused_naming_the_config_family_and_parameter(family, name, value):
    with pytest.raises(ConfigError) as error:
        config_params(WHERE, family, {name: value})
    assert str(error.value).startswith(f"{WHERE}: {family} parameter {name!r} must be"), str(error.value)


@pytest.mark.parametrize("family", FAMILIES)
def test_an_unknown_parameter_is_refused_with_the_known_ones(family: str):
    with pytest.raises(ConfigError, match=f"{WHERE}: unknown {family} parameter 'no_such'; expected one of"):
        config_params(WHERE, family, {"no_such": 1})


@pytest.mark.parametrize("family", FAMILIES)
def test_every_default_is_valid_and_keys_name_the_parameters_readably(family: str):
    spec = FAMILIES[family]
    for name, parameter in spec.parameters.items():
        assert parameter.check(name, parameter.default) == parameter.default
    key = spec.key(config_params(WHERE, family, {}))
    assert key and make_config(WHERE, family, {}).key == key


@pytest.mark.parametrize("family", FAMILIES)
def test_the_fit_keeps_or_leaves_out_played_tracks_as_scores_better_on_validation(family: str):
    from recsys_assets.core.evaluation.evaluator import evaluate

    train = random_playlists(31, playlists=60, tracks=30)
    unplayed = [
        [*playlist[:-1], target]
        for playlist in random_playlists(33, playlists=40, tracks=30)
        for target in [playlist[-1]]
        if target not in playlist[:-1]
    ]
    cases = next_track_cases(unplayed)
    with tempfile.TemporaryDirectory(prefix="recsys-contract-") as folder:
        context = FitContext(corpus_of(train, Path(folder)), statistics_of(train), cases, seed=5, k=K)
        report = fit_config(
            make_config(WHERE, family, FAST.get(family, {})), context, data_version="contract"
        )
    model, hit_rate = report.model, f"hit_rate@{K}"
    keeping = evaluate(model.recommender(context.statistics, leave_out_played=False), cases, K)
    leaving = evaluate(model.recommender(context.statistics, leave_out_played=True), cases, K)
    assert (report.validation_keeping_played, report.validation_leaving_out) == (keeping, leaving)
    assert model.leaves_out_played == (leaving[hit_rate] > keeping[hit_rate])
    assert model.validation == (leaving if model.leaves_out_played else keeping)
    assert leaving[hit_rate] >= keeping[hit_rate], "no held-out track is played: leaving them out never costs"
