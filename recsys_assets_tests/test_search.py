"""The adaptive search: its plan, its study, pruning, budgets, and its partitions in the graph."""

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import dagster as dg
import optuna
import pytest
from optuna.trial import TrialState

from recsys_assets.core.models.config import ModelConfig
from recsys_assets.core.models.parameters import ConfigError
from recsys_assets.core.models.registry import FAMILIES
from recsys_assets.core.search.space import Choices, Range, parse_search_plan
from recsys_assets.core.search.study import (
    SearchProgress,
    StudyUnavailable,
    finish,
    next_search_step,
    open_study,
    propose,
    report,
    search_progress,
    trial_configs,
    trials_run,
    warm_start,
)
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.automation import propose_trials, register_configs
from recsys_assets.graph.history import latest_metadata
from recsys_assets.graph.partitions import model_configs
from recsys_assets.graph.resources import SearchSpace
from recsys_assets.retrain import retrain
from recsys_assets.settings import Settings
from recsys_assets_tests.conftest import write_search_space

FIXED = "[[config]]\nname = 'fixed'\nmin_count = 2\nepochs = 4\nvector_size = 16\nwindow = 5\n"
SEARCH = """
[search]
trials = {trials}
pruner = "{pruner}"

[search.params]
vector_size = {{ choices = [8, 16] }}
window = {{ low = 2, high = 8 }}
epochs = {{ low = 4, high = 6 }}
alpha = {{ low = 0.01, high = 0.05, log = true }}
"""


def plan_of(trials: int = 3, pruner: str = "median"):
    document = {
        "search": {
            "trials": trials,
            "pruner": pruner,
            "params": {
                "vector_size": {"choices": [8, 16]},
                "window": {"low": 2, "high": 8},
                "alpha": {"low": 0.01, "high": 0.05, "log": True},
            },
        }
    }
    return parse_search_plan(document, "space.toml")


@pytest.mark.parametrize(
    ("search", "name"),
    [
        (
            {
                "trials": 5,
                "params": {
                    "window": {"low": 2, "high": 8},
                    "alpha": {"low": 0.01, "high": 0.1, "log": True},
                    "sg": {"choices": [0, 1]},
                },
            },
            "recsys-a00e8b28c681",
        ),
        (
            {
                "time_budget_minutes": 3,
                "seed": 7,
                "params": {"vector_size": {"choices": [16, 32]}},
                "rules": {"steps": {"low": 2, "high": 20}, "weighting": {"choices": ["div", "log"]}},
                "session_knn": {
                    "k": {"low": 10, "high": 200, "log": True},
                    "idf_weight": {"low": 0.0, "high": 2.0},
                },
                "hybrid": {"knn_k": {"choices": [50, 100]}},
            },
            "recsys-71af97531fb6",
        ),
        ({"trials": 3, "session_knn": {"decay": {"low": 0.0, "high": 20.0}}}, "recsys-af0d656e0f66"),
    ],
)
def test_a_plan_keeps_the_study_name_it_had_before_every_family_was_in_the_registry(search, name):
    assert parse_search_plan({"search": search}, "space.toml").study_name == name


def test_the_plan_is_parsed_and_checked():
    plan = plan_of()
    assert plan.space_of("word2vec") == {
        "vector_size": Choices((8, 16)),
        "window": Range(2, 8, integer=True),
        "alpha": Range(0.01, 0.05, log=True),
    }
    assert plan.study_name != plan_of(trials=4).study_name
    bad = [
        ({"params": {"window": {"low": 2, "high": 8}}}, "give a budget"),
        ({"trials": 0, "params": {"window": {"low": 2, "high": 8}}}, "trials must be a whole number"),
        ({"trials": 2, "params": {"window": {"low": 8, "high": 2}}}, "needs low < high"),
        ({"trials": 2, "params": {"window": {"low": 2, "high": 5000}}}, "must be <= 1000"),
        ({"trials": 2, "params": {"alpha": {"low": 0.0, "high": 0.1, "log": True}}}, "must be > 0"),
        ({"trials": 2, "params": {"windoww": {"choices": [2]}}}, "unknown word2vec parameter 'windoww'"),
        (
            {"trials": 2, "pruner": "hyperband", "params": {"window": {"choices": [2]}}},
            "pruner must be one of",
        ),
        ({"trials": 2, "seed": -1, "params": {"window": {"choices": [2]}}}, "seed must be a whole number"),
        ({"trials": 2, "seed": 2**40, "params": {"window": {"choices": [2]}}}, "from 0 to 2147483647"),
    ]
    for table, message in bad:
        with pytest.raises(ConfigError, match=message):
            parse_search_plan({"search": table}, "space.toml")


def test_proposals_stay_in_the_plan_and_carry_readable_keys(tmp_path: Path):
    plan = plan_of(trials=5)
    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", plan)
    for _ in range(5):
        number, config = propose(study, plan)
        assert config.params["vector_size"] in (8, 16) and 2 <= config.params["window"] <= 8
        assert 0.01 <= config.params["alpha"] <= 0.05 and len(repr(config.params["alpha"])) <= 7
        finish(study, number, config.params["window"] / 10)
    assert trials_run(study) == 5
    reopened = open_study(f"sqlite:///{tmp_path / 'study.db'}", plan)
    assert sorted(trial_configs(reopened)) == sorted(trial_configs(study)), "the study lives in its database"


def test_a_curve_behind_the_median_is_pruned_and_recorded(tmp_path: Path):
    plan = plan_of()
    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", plan)
    for value in (0.8, 0.9):
        number, _ = propose(study, plan)
        assert report(study, number, 2, value) and report(study, number, 4, value)
        finish(study, number, value)
    number, _ = propose(study, plan)
    assert not report(study, number, 2, 0.1), "far behind the median at the same epoch"
    finish(study, number, None, pruned=True)
    assert study.trials[number].state == TrialState.PRUNED
    assert trials_run(study) == 3


@pytest.fixture
def search_settings(small_settings: Settings, tmp_path: Path) -> Settings:
    return replace(
        small_settings,
        search_space_path=write_search_space(tmp_path, FIXED + SEARCH.format(trials=3, pruner="median")),
        study_url=f"sqlite:///{tmp_path / 'study.db'}",
    )


def trial_keys(settings: Settings) -> dict[str, tuple]:
    return SearchSpace(path=str(settings.search_space_path), study_url=settings.study_location).trials()


def test_retrain_runs_the_search_to_its_budget_and_a_second_retrain_repeats_no_trial(search_settings):
    with dg.instance_for_test() as instance:
        first = retrain(search_settings, instance)
        trials = trial_keys(search_settings)
        assert len(trials) == 3 and all(state != TrialState.RUNNING for _, _, state in trials.values())
        registered = set(instance.get_dynamic_partitions(model_configs.name))
        assert registered == {"fixed", *trials}
        compared = latest_metadata(instance, "best_model")["configs_compared"]
        assert sorted(compared) == sorted(registered)
        for key, (number, _, state) in trials.items():
            trained = latest_metadata(instance, "embedding_model", key)
            assert trained["search_trial"] == number
            assert ("pruned_at_epoch" in trained) == (state == TrialState.PRUNED)

        second = retrain(search_settings, instance, force=True)
        assert trial_keys(search_settings) == trials, "the budget was spent: no new trial, none repeated"
        assert set(instance.get_dynamic_partitions(model_configs.name)) == registered
        assert second.config_key in registered and first.test_rows == second.test_rows


def test_the_time_budget_stops_the_search(search_settings, tmp_path: Path, monkeypatch):
    budgeted = replace(
        search_settings,
        search_space_path=write_search_space(
            tmp_path,
            FIXED
            + SEARCH.format(trials=50, pruner="none").replace(
                "trials = 50", "trials = 50\ntime_budget_minutes = 1"
            ),
        ),
    )
    clock = iter([0.0, 0.0, 30.0, 61.0, 61.0])
    monkeypatch.setattr("recsys_assets.retrain.monotonic", lambda: next(clock))
    with dg.instance_for_test() as instance:
        retrain(budgeted, instance)
    assert len(trial_keys(budgeted)) == 2, "trials start while the minute lasts, none after it"


def test_pruning_stops_a_trial_behind_earlier_ones(search_settings):
    plan = SearchSpace(
        path=str(search_settings.search_space_path), study_url=search_settings.study_location
    ).plan()
    study = open_study(search_settings.study_location, plan)
    for _ in range(2):
        number, _ = propose(study, plan)
        report(study, number, 2, 0.99)
        finish(study, number, 0.99)
    with dg.instance_for_test() as instance:
        retrain(search_settings, instance)
        models = build_definitions(search_settings).resources["model_store"]
        pruned = [
            (latest_metadata(instance, "embedding_model", key), models.summary(key))
            for key, (_, _, state) in trial_keys(search_settings).items()
            if state == TrialState.PRUNED and latest_metadata(instance, "embedding_model", key)
        ]
    assert pruned and all(meta["pruned_at_epoch"] == 2 for meta, _ in pruned)
    assert all(list(model.learning_curve) == [2] for _, model in pruned), "training stopped at epoch 2"


def test_partitions_the_search_registered_survive_the_config_sensor(search_settings):
    space = SearchSpace(path=str(search_settings.search_space_path), study_url=search_settings.study_location)
    with dg.instance_for_test() as instance:
        retrain(search_settings, instance)
        result = register_configs(
            dg.build_sensor_context(instance=instance, resources={"search_space": space})
        )
        assert isinstance(result, dg.SkipReason) and "already match" in result.skip_message
        assert optuna.load_study(study_name=space.plan().study_name, storage=space.study_url).trials


def test_the_nightly_sensor_proposes_trials_within_budget_and_concurrency(search_settings):
    space = SearchSpace(path=str(search_settings.search_space_path), study_url=search_settings.study_location)
    defs = build_definitions(search_settings)

    def evaluate(instance):
        resources = {"search_space": space, "model_store": defs.resources["model_store"]}
        return propose_trials(dg.build_sensor_context(instance=instance, resources=resources))

    with dg.instance_for_test() as instance:
        assert "no data build" in evaluate(instance).skip_message
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        proposals = [evaluate(instance) for _ in range(3)]
        first, second = proposals[0], proposals[1]
        assert isinstance(first, dg.SensorResult) and isinstance(second, dg.SensorResult)
        assert "2 trials in flight" in proposals[2].skip_message
        (request,) = first.run_requests
        (added,) = first.dynamic_partitions_requests
        assert added.partition_keys == [request.partition_key]
        instance.add_dynamic_partitions(model_configs.name, [request.partition_key])
        defs.resolve_job_def("train_models").execute_in_process(
            instance=instance, partition_key=request.partition_key
        )
        assert trials_run(open_study(space.study_url, space.plan())) == 1
        third = evaluate(instance)
        assert isinstance(third, dg.SensorResult), "a finished trial frees its slot"
        assert "budget of 3 trials is spent" in evaluate(instance).skip_message


def test_a_search_whose_trials_all_fail_stops_and_the_fixed_config_ships(
    search_settings, tmp_path: Path, capsys
):
    failing = FIXED + "[search]\ntrials = 10\n[search.params]\nmin_count = { choices = [1000000, 2000000] }\n"
    settings = replace(search_settings, search_space_path=write_search_space(tmp_path, failing))
    with dg.instance_for_test() as instance:
        result = retrain(settings, instance)
        assert result.config_key == "fixed"
        assert instance.get_dynamic_partitions(model_configs.name) == ["fixed"], (
            "failed trials leave no partition"
        )
    assert "3 trials failed in a row: the search stops" in capsys.readouterr().err
    assert trial_keys(settings) == {}


def test_the_search_starts_from_configs_trained_outside_it(tmp_path: Path):
    plan = plan_of(trials=3)
    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", plan)
    known = [
        (ModelConfig("inside", {"vector_size": 16, "window": 5}, "word2vec"), 0.6, {2: 0.5, 4: 0.55}),
        (ModelConfig("outside", {"vector_size": 48, "window": 5}, "word2vec"), 0.7, {}),
        (ModelConfig("rules", {"steps": 3}, family="rules"), 0.8, {}),
    ]
    assert warm_start(study, plan, known) == ["inside"], "48 is not among the choices; rules not searched"
    assert warm_start(study, plan, known) == [], "recorded once"
    (recorded,) = study.trials
    assert recorded.params == {"vector_size": 16, "window": 5, "alpha": 0.025}, "unset: gensim's default"
    assert recorded.value == 0.6 and recorded.intermediate_values == {2: 0.5, 4: 0.55}
    assert trials_run(study) == 0 and trial_configs(study) == {}, "not a trial, not in the budget"


def test_one_rule_says_when_a_search_proposes_the_next_trial():
    plan = parse_search_plan(
        {"search": {"trials": 5, "time_budget_minutes": 2, "params": {"window": {"low": 2, "high": 9}}}}, "f"
    )
    assert next_search_step(plan, SearchProgress(trials_run=4)).propose
    assert "budget of 5 trials" in next_search_step(plan, SearchProgress(trials_run=4, in_flight=1)).reason
    assert "time budget of 2 minutes" in next_search_step(plan, SearchProgress(1, seconds_spent=121)).reason
    assert "3 trials failed in a row" in next_search_step(plan, SearchProgress(1, failures_in_a_row=3)).reason
    assert "exhausted" in next_search_step(plan, SearchProgress(1, repeats_in_a_row=20)).reason
    waiting = next_search_step(plan, SearchProgress(1, in_flight=2), max_in_flight=2)
    assert not waiting.propose and "2 trials in flight" in waiting.reason
    assert next_search_step(plan, SearchProgress(1, in_flight=1), max_in_flight=2).propose


def test_failures_and_repeats_in_a_row_are_read_from_the_study_since_a_time(tmp_path: Path):
    plan = parse_search_plan({"search": {"trials": 20, "params": {"window": {"low": 2, "high": 9}}}}, "f")
    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", plan)
    before = datetime.now()
    for value in (None, 0.5, None, None):
        number, _ = propose(study, plan)
        finish(study, number, value)
    number, _ = propose(study, plan)
    finish(study, number, 0.4, repeated=True)
    progress = search_progress(study, before)
    assert (progress.trials_run, progress.failures_in_a_row, progress.repeats_in_a_row) == (2, 0, 1)
    number, _ = propose(study, plan)
    finish(study, number, None)
    assert search_progress(study, before).failures_in_a_row == 1
    assert search_progress(study, datetime.now()).failures_in_a_row == 0, "an earlier night does not count"


@pytest.mark.parametrize("damage", ["not a database", "read-only", "no such folder"])
def test_a_study_database_that_cannot_be_used_stops_the_retrain_with_one_error_before_training(
    search_settings: Settings, tmp_path: Path, damage: str
):
    study_file = tmp_path / "study.db"
    url = {
        "not a database": f"sqlite:///{study_file}",
        "read-only": f"sqlite:///file:{study_file}?mode=ro&uri=true",
        "no such folder": f"sqlite:///{tmp_path / 'missing' / 'study.db'}",
    }[damage]
    if damage == "not a database":
        study_file.write_text("garbage\n")
    if damage == "read-only":
        open_study(f"sqlite:///{study_file}", plan_of())
    settings = replace(search_settings, study_url=url)
    with dg.instance_for_test() as instance:
        with pytest.raises(StudyUnavailable) as error:
            retrain(settings, instance)
        assert not instance.get_runs(), "nothing ran"
    assert str(error.value).startswith(f"the search study at {url} cannot be used: ")
    assert "RECSYS_STUDY_URL" in str(error.value)


def test_only_word2vec_configs_start_the_search_that_proposes_word2vec_configs(search_settings, tmp_path):
    """A rules config's result is no point of the Word2Vec search, even where the plan's space
    holds Word2Vec's defaults."""
    rules = "[[config]]\nmodel = 'rules'\nsteps = 3\n"
    plan = "[search]\ntrials = 1\n[search.params]\nwindow = { low = 2, high = 8 }\n"
    settings = replace(search_settings, search_space_path=write_search_space(tmp_path, FIXED + rules + plan))
    with dg.instance_for_test() as instance:
        retrain(settings, instance)
    space = SearchSpace(path=str(settings.search_space_path), study_url=settings.study_location)
    study = open_study(settings.study_location, space.plan())
    known = {
        t.user_attrs["config_key"] for t in study.trials if t.user_attrs.get("trained_outside_the_search")
    }
    assert known == {"fixed"}


FAMILY_PLAN = {
    "trials": 12,
    "params": {"window": {"low": 2, "high": 8}},
    "rules": {"steps": {"low": 2, "high": 20}, "weighting": {"choices": ["div", "log"]}},
    "session_knn": {"k": {"low": 5, "high": 200, "log": True}, "idf_weight": {"low": 0.0, "high": 2.0}},
    "hybrid": {"knn_k": {"choices": [10, 50]}},
}


def test_a_plan_that_spans_families_proposes_configs_of_each_within_its_space(tmp_path: Path):
    plan = parse_search_plan({"search": FAMILY_PLAN}, "space.toml")
    assert plan.models == ("word2vec", "rules", "session_knn", "hybrid")
    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", plan)
    proposed = []
    for _ in range(12):
        number, config = propose(study, plan)
        finish(study, number, 0.5)
        proposed.append(config)
    assert {config.family for config in proposed} == set(plan.models)
    for config in proposed:
        if config.family == "rules":
            assert 2 <= config.params["steps"] <= 20 and config.params["weighting"] in ("div", "log")
            assert config.params["last_n"] == 3, "unsearched: the family's default"
            assert config.key.startswith("rules-")
        elif config.family == "session_knn":
            assert 5 <= config.params["k"] <= 200 and 0 <= config.params["idf_weight"] <= 2
        elif config.family == "hybrid":
            assert config.params["knn_k"] in (10, 50)
        else:
            assert set(config.params) == {"window"} and config.key.startswith("win")
    reopened = trial_configs(open_study(f"sqlite:///{tmp_path / 'study.db'}", plan))
    assert {key: config for key, (_, config, _) in reopened.items()} == {c.key: c for c in proposed}


def test_a_word2vec_only_plan_keeps_its_study_and_adding_a_family_starts_a_new_one():
    plan = plan_of()
    assert plan.study_name == "recsys-28fd30311e06", "the name this plan had before families were searched"
    document = {"search": {"trials": 3, "params": FAMILY_PLAN["params"]}}
    with_rules = {"search": {**document["search"], "rules": {"steps": {"low": 2, "high": 5}}}}
    assert parse_search_plan(with_rules, "f").study_name != parse_search_plan(document, "f").study_name


def test_the_search_spanning_families_starts_from_fixed_configs_of_the_families_it_searches(tmp_path: Path):
    plan = parse_search_plan({"search": FAMILY_PLAN}, "space.toml")
    study = open_study(f"sqlite:///{tmp_path / 'study.db'}", plan)
    known = [
        (ModelConfig("rules-fixed", {"steps": 10, "weighting": "div"}, family="rules"), 0.7, {}),
        (ModelConfig("rules-outside", {"steps": 40, "weighting": "div"}, family="rules"), 0.7, {}),
        (ModelConfig("w2v", {"window": 5}, "word2vec"), 0.6, {2: 0.5}),
    ]
    assert warm_start(study, plan, known) == ["rules-fixed", "w2v"], "steps 40 is outside the space"
    rules, word2vec = study.trials
    assert rules.params == {"model": "rules", "rules.steps": 10, "rules.weighting": "div"}
    assert word2vec.params == {"model": "word2vec", "window": 5}
    number, _ = propose(study, plan)
    assert number == 2 and trials_run(study) == 0


@pytest.mark.parametrize(
    "table, message",
    [
        (
            {"rules": {"steps": {"low": 0, "high": 5}}},
            r"\[search\].rules: rules parameter 'steps' must be >= 1",
        ),
        ({"rules": {"weighting": {"low": 1, "high": 2}}}, "weighting is a named choice: give choices"),
        ({"rules": {"weighting": {"choices": ["cubic"]}}}, "must be one of div, quadratic, log, linear"),
        ({"session_knn": {"kk": {"choices": [5]}}}, "unknown session_knn parameter 'kk'"),
        ({"stan": {}}, r"unknown entries \['stan'\]"),
    ],
)
def test_a_family_space_that_cannot_be_searched_is_refused_naming_the_table(table, message):
    with pytest.raises(ConfigError, match=message):
        parse_search_plan({"search": {"trials": 2, **table}}, "space.toml")


def test_retrain_searches_rules_and_knn_configs_and_compares_them_with_the_fixed_ones(
    search_settings, tmp_path
):
    plan = (
        "[search]\ntrials = 3\n[search.rules]\nsteps = { low = 2, high = 12 }\n"
        "[search.session_knn]\nk = { low = 5, high = 100 }\n"
    )
    settings = replace(search_settings, search_space_path=write_search_space(tmp_path, FIXED + plan))
    with dg.instance_for_test() as instance:
        retrain(settings, instance)
        trials = trial_keys(settings)
        assert len(trials) == 3 and {config.family for _, config, _ in trials.values()} <= {
            "rules",
            "session_knn",
        }
        compared = latest_metadata(instance, "best_model")["configs_compared"]
        assert sorted(compared) == sorted({"fixed", *trials})
        for key, (number, config, state) in trials.items():
            trained = latest_metadata(instance, "embedding_model", key)
            assert trained["search_trial"] == number and trained["family"] == FAMILIES[config.family].label
            assert state == TrialState.COMPLETE
