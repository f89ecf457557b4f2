"""The real Dagster graph materialized on small generated data in temporary instances."""

import re
import shutil
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from gensim.models.keyedvectors import KeyedVectors

from recsys_assets.client import load_best_model
from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.corpus import CORPUS_FILE, read_corpus_manifest
from recsys_assets.core.data.demo_data import write_demo_rows
from recsys_assets.core.data.playlists import split_playlists, track_sequences
from recsys_assets.core.data.training_files import CURRENT_BUILD_FILE
from recsys_assets.core.evaluation.evaluator import evaluate
from recsys_assets.core.models.parameters import ConfigError
from recsys_assets.core.models.trained import select_best
from recsys_assets.core.models.word2vec.strategies import TUTORIAL_STRATEGY, QueryStrategy
from recsys_assets.core.models.word2vec.strategy_choice import score_strategies
from recsys_assets.core.search.space import load_search_space
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.history import latest_data_version, latest_metadata
from recsys_assets.graph.io_managers import ModelFiles
from recsys_assets.graph.partitions import model_configs
from recsys_assets.retrain import RetrainStopped, retrain
from recsys_assets.settings import Settings
from recsys_assets_tests.conftest import SMALL_SPEC, write_search_space
from recsys_assets_tests.reference import corpus_of, statistics_of

ASSETS = [
    "playlists",
    "train_playlists",
    "validate_playlists",
    "test_playlists",
    "best_model",
    "test_evaluation",
]


def metadata(instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> dict:
    values = latest_metadata(instance, asset, partition)
    assert values, f"{asset} {partition or ''} was not materialized"
    return values


def check_evaluation(instance: dg.DagsterInstance, asset: str, check: str) -> dg.AssetCheckEvaluation:
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    return record.event.dagster_event.event_specific_data


def test_retrain_materializes_every_asset_and_config(small_settings: Settings, monkeypatch):
    keys = [config.key for config in load_search_space(small_settings.search_space_path)]
    defs = build_definitions(small_settings)
    models_loaded = []
    load_model_file = ModelFiles.load_from_path

    def recording_load(self, context, path):
        models_loaded.append(Path(path.path).relative_to(small_settings.models_dir).as_posix())
        return load_model_file(self, context, path)

    monkeypatch.setattr(ModelFiles, "load_from_path", recording_load)
    with dg.instance_for_test() as instance:
        result = retrain(small_settings, instance)
        winner = metadata(instance, "best_model")["winner"]
        assert len(keys) > 1 and models_loaded == [f"embedding_model/{winner}.npz", "best_model.npz"], (
            "selection reads every config's summary, and loads the winning model only"
        )
        assert sorted(instance.get_dynamic_partitions(model_configs.name)) == sorted(keys)
        (retrain_id,) = {run.tags.get("recsys/retrain") for run in instance.get_runs()}
        assert retrain_id and len(instance.get_runs()) == 4, "one retrain: four runs, one tag"
        for asset in ASSETS:
            metadata(instance, asset)

        models = {
            key: defs.load_asset_value("embedding_model", partition_key=key, instance=instance)
            for key in keys
        }
        for key, model in models.items():
            meta = metadata(instance, "embedding_model", key)
            assert (
                meta["validation_hit_rate"]
                == round(model.validation_hit_rate, 4)
                == meta["validation_hit_rate@100"]
            )
            assert (
                meta["validation_mrr@100"] <= meta["validation_ndcg@100"] <= meta["validation_hit_rate@100"]
            )
            assert 0 < meta["validation_coverage@100"] <= 1
            assert 0 <= meta["validation_query_oov_share"] < 1
            assert meta["vocabulary_size"] == len(model.fitted.vectors.index_to_key) > 0
            assert list(model.learning_curve) == [2, 3] and all(
                0 < v < 1 for v in model.learning_curve.values()
            )
            assert meta["learning_curve"].startswith("![Learning curve")
            assert meta["train_seconds"] > 0

        best = defs.load_asset_value("best_model", instance=instance)
        assert best.config_key == select_best(models).config_key
        assert metadata(instance, "best_model")["winner"] == best.config_key
        compared = [record.data["model"] for record in metadata(instance, "best_model")["results"].records]
        assert compared[0] == f"{best.config_key} (best)" and len(compared) == len(keys) + 2
        assert {*keys, "most_popular (baseline)", "item_to_item (baseline)"} == {
            label.removesuffix(" (best)") for label in compared
        }

        evaluation = metadata(instance, "test_evaluation")
        assert isinstance(evaluation["test_hit_rate"], float) and 0 < evaluation["test_hit_rate"] < 1
        assert evaluation["k"] == 100 and isinstance(evaluation["k"], int)
        assert round(result.test_hit_rate, 4) == evaluation["test_hit_rate"]

        test_split = defs.load_asset_value("test_playlists", instance=instance)
        assert isinstance(test_split, pd.DataFrame)
        assert (
            len(test_split) == metadata(instance, "test_playlists")["dagster/row_count"] == result.test_rows
        )
        png = "data:image/png;base64,"
        assert metadata(instance, "playlists")["distributions"].startswith(
            f"![playlist lengths and track popularity]({png}"
        )
        assert metadata(instance, "best_model")["hit_rate_by_k"].startswith(f"![Validation hit rate@K]({png}")
        assert metadata(instance, "best_model")["learning_curves"].startswith(
            f"![Learning curves of the Word2Vec configs]({png}"
        )
        examples = metadata(instance, "test_evaluation")["examples"]
        rows = [record.data for record in examples.records]
        hits = [not row["place"].startswith("not in") for row in rows]
        assert sorted(hits) == [False] * 3 + [True] * 3, "3 hits, 3 misses"
        columns = [column.name for column in examples.schema.columns]
        assert columns[:3] == ["place", "held-out track", "recommended first"], "what people look for first"
        assert len({row["test row"] for row in rows}) == 6
        for row, hit in zip(rows, hits, strict=True):
            listed = row["recommended first"].split("; ")
            assert len(listed) == 3 and all(" — " in track for track in listed)
            if best.leaves_out_played:
                assert row["last input track"] not in listed, "played tracks left out, as served"
            if hit:
                place = int(row["place"])
                assert (row["held-out track"] in listed) == (place <= 3)
                assert place > 3 or listed[place - 1] == row["held-out track"]
            else:
                assert row["place"] == "not in the 100" and row["held-out track"] not in listed
        results = {
            record.data["model"]: record.data
            for record in metadata(instance, "test_evaluation")["results"].records
        }
        assert results[f"{best.config_key}"]["hit@100"] == evaluation["test_hit_rate"]
        assert {"seed strategy", "most_popular (baseline)", "item_to_item (baseline)"} <= set(results)
        rows = metadata(instance, "playlists")
        assert rows["distinct_playlists"] >= rows["dagster/row_count"] > 0
        assert rows["distinct_rows"] >= rows["rows_kept"]


def test_one_config_works_as_well_as_many(small_settings: Settings, tmp_path: Path):
    one = replace(
        small_settings,
        search_space_path=write_search_space(
            tmp_path, "[[config]]\nmin_count = 2\nepochs = 2\nvector_size = 8\n"
        ),
    )
    with dg.instance_for_test() as instance:
        result = retrain(one, instance)
        assert result.config_key == "dim8-ep2-mc2"
        assert metadata(instance, "best_model")["configs_compared"] == ["dim8-ep2-mc2"]


def test_same_data_config_and_seed_give_the_same_models_and_metrics(small_settings: Settings, tmp_path: Path):
    other = replace(small_settings, data_dir=tmp_path / "other")
    with dg.instance_for_test() as first, dg.instance_for_test() as second:
        results = [retrain(small_settings, first), retrain(other, second)]
        models = [
            build_definitions(s).load_asset_value("best_model", instance=i)
            for s, i in [(small_settings, first), (other, second)]
        ]
    assert results[0] == results[1]
    assert np.array_equal(models[0].fitted.vectors.vectors, models[1].fitted.vectors.vectors)


def test_removed_config_is_unregistered_by_the_next_retrain(small_settings: Settings, tmp_path: Path):
    with dg.instance_for_test() as instance:
        retrain(small_settings, instance)
        only_first = replace(
            small_settings,
            search_space_path=write_search_space(
                tmp_path, "[[config]]\nmin_count = 2\nepochs = 3\nvector_size = 16\nwindow = 5\n"
            ),
        )
        retrain(only_first, instance)
        assert instance.get_dynamic_partitions(model_configs.name) == ["dim16-ep3-mc2-win5"]
        assert metadata(instance, "best_model")["configs_compared"] == ["dim16-ep3-mc2-win5"]


def test_best_model_before_training_says_what_to_run(small_settings: Settings):
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance, pytest.raises(dg.Failure, match="recsys-assets retrain"):
        defs.resolve_job_def("select_best_model").execute_in_process(instance=instance)


def test_registered_but_untrained_config_is_named(small_settings: Settings):
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(model_configs.name, ["wide-window", "dim16-ep3-mc2-win5"])
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        defs.resolve_job_def("train_models").execute_in_process(
            instance=instance, partition_key="wide-window"
        )
        with pytest.raises(dg.Failure, match="registered but not trained: dim16-ep3-mc2-win5"):
            defs.resolve_job_def("select_best_model").execute_in_process(instance=instance)


def test_partition_missing_from_the_search_space_is_refused(small_settings: Settings):
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(model_configs.name, ["mystery"])
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        with pytest.raises(ConfigError, match="no config has key 'mystery'"):
            defs.resolve_job_def("train_models").execute_in_process(
                instance=instance, partition_key="mystery"
            )


def test_bad_search_space_is_refused_before_any_run(small_settings: Settings, tmp_path: Path):
    bad = replace(small_settings, search_space_path=write_search_space(tmp_path, "[[config]]\nwindoww = 3\n"))
    with dg.instance_for_test() as instance:
        with pytest.raises(ConfigError, match="unknown word2vec parameter 'windoww'"):
            retrain(bad, instance)
        assert instance.get_runs() == []


def test_parquet_with_a_missing_column_fails_with_its_name(small_settings: Settings, tmp_path: Path):
    path = tmp_path / "rows.parquet"
    pd.read_parquet(small_settings.playlists_path).drop(columns="artist").to_parquet(path)
    error = "recsys_assets.core.data.sources.SourceDataError"
    message = re.escape(f"prepare_data failed: playlist_tables: {error}: {path}: missing column(s) artist")
    with dg.instance_for_test() as instance, pytest.raises(RetrainStopped, match=message):
        retrain(replace(small_settings, playlists_path=path), instance)


def test_failing_data_check_stops_training_and_resume_rebuilds_the_data(
    small_settings: Settings, monkeypatch
):
    def overlapping_splits(conn, seed):
        sizes = split_playlists(conn, seed)
        conn.execute(
            "INSERT INTO playlist_split_assignment SELECT playlist_id, 0 FROM test_playlists LIMIT 3"
        )
        return sizes

    monkeypatch.setattr("recsys_assets.core.data.playlists.split_playlists", overlapping_splits)
    with dg.instance_for_test() as instance:
        with pytest.raises(RetrainStopped, match="train_playlists: split_is_disjoint_complete_70_20_10"):
            retrain(small_settings, instance)
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("train_playlists"), "split_is_disjoint_complete_70_20_10")]
        )
        assert check
        assert not instance.fetch_materializations(dg.AssetKey("embedding_model"), limit=1).records
        monkeypatch.undo()
        result = retrain(small_settings, instance, resume=True)
        assert len(instance.get_runs(filters=dg.RunsFilter(job_name="prepare_data"))) == 2
        assert result.test_rows == metadata(instance, "test_playlists")["dagster/row_count"] > 0


def test_the_strategy_chosen_on_validation_travels_with_the_model(small_settings: Settings):
    defs = build_definitions(small_settings)
    with dg.instance_for_test() as instance:
        result = retrain(small_settings, instance)
        best = load_best_model(instance, small_settings)
        trained = metadata(instance, "embedding_model", best.config_key)
        rows = trained["strategies"].records
        top = max(rows, key=lambda row: row.data["hit@100"])
        chosen = [
            tuple(
                row.data[column].replace("\u00a0", " ")
                for column in ("query", "cold start", "successors first")
            )
            for row in rows
            if row.data["chosen"]
        ]
        strategy = best.strategy
        assert chosen == [(strategy.query_label, strategy.cold_start, strategy.successors_label)]
        assert (
            top.data["hit@100"]
            == round(best.validation_hit_rate, 4)
            == round(trained["validation_hit_rate"], 4)
        )
        assert trained["strategy"] == best.strategy.label == result.strategy
        assert QueryStrategy.from_dict(trained["strategy_settings"]) == best.strategy
        assert (best.fitted.successors is not None) == best.strategy.successors_first

        test_split = defs.load_asset_value("test_playlists", instance=instance)
        train_split = defs.load_asset_value("train_playlists", instance=instance)
        cases = EvaluationCases.from_columns(
            test_split["track_test_x"], test_split["artist_sequence"], test_split["track_test_y"]
        )
        train = statistics_of([list(s) for s in train_split["track_sequence"]])
        assert result.test_hit_rate == evaluate(best.recommender(train), cases, 100)["hit_rate@100"]
        assert (
            result.test_hit_rate_seed_strategy
            == evaluate(best.recommender(train, TUTORIAL_STRATEGY), cases, 100)["hit_rate@100"]
        )
        assert check_evaluation(instance, "best_model", "beats_every_baseline_on_validation").passed
        closeness = check_evaluation(instance, "test_evaluation", "test_hit_rate_close_to_validation")
        gap = closeness.metadata["difference"].value
        assert closeness.passed == (abs(gap) <= closeness.metadata["tolerance"].value)


def test_a_model_worse_than_a_baseline_is_flagged(small_settings: Settings, monkeypatch, capsys):
    def untrained(corpus, params, seed, **training):
        vectors = KeyedVectors(vector_size=8)
        tracks = corpus.tracks.tolist()
        vectors.add_vectors(
            tracks, np.random.default_rng(seed).normal(size=(len(tracks), 8)).astype(np.float32)
        )
        vectors.allocate_vecattrs(attrs=["count"], types=[np.int64])
        return vectors

    def seed_strategy_only(embedding, cases, train, seed, k, on_progress=None):
        return score_strategies(embedding, cases, train, seed, k)[:1]

    monkeypatch.setattr("recsys_assets.core.models.word2vec.fit.train_embeddings", untrained)
    monkeypatch.setattr(
        "recsys_assets.core.models.word2vec.strategy_choice.score_strategies", seed_strategy_only
    )
    with dg.instance_for_test() as instance:
        result = retrain(small_settings, instance)
        evaluation = check_evaluation(instance, "best_model", "beats_every_baseline_on_validation")
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert metadata(instance, "best_model")["verdict"].startswith(
            "A baseline beats the model on validation"
        )
    assert result.verdict.startswith("A baseline beats the model on test")
    assert "warning: check best_model: beats_every_baseline_on_validation failed" in capsys.readouterr().out


def test_each_data_build_stores_its_training_statistics_and_corpus_once_for_every_model_step(
    small_settings: Settings, tmp_path: Path
):
    defs = build_definitions(small_settings)
    folder = Path(small_settings.training_files_location)
    with dg.instance_for_test() as instance:
        defs.resolve_job_def("prepare_data").execute_in_process(instance=instance)
        version = latest_data_version(instance, "train_playlists")
        assert sorted(path.name for path in folder.iterdir()) == sorted([version, CURRENT_BUILD_FILE])
        assert defs.resources["training_files"].current().data_version == version
        stored = defs.resources["training_files"].load(version)
        with duckdb.connect(str(small_settings.duckdb_path), read_only=True) as conn:
            sentences = track_sequences(conn)
        counted = statistics_of(sentences)
        assert stored.tracks.tolist() == counted.tracks.tolist()
        assert stored.plays.tolist() == counted.plays.tolist()
        assert stored.popularity_rank.tolist() == counted.popularity_rank.tolist()
        expected = corpus_of(sentences, tmp_path / "expected")
        assert (folder / version / CORPUS_FILE).read_text() == expected.path.read_text()
        assert read_corpus_manifest(folder / version) == expected.manifest()
        for field in ("start", "followers", "counts"):
            assert getattr(stored.successors, field).tolist() == getattr(counted.successors, field).tolist()

        other = write_demo_rows(tmp_path / "other", replace(SMALL_SPEC, seed=5))
        build_definitions(replace(small_settings, playlists_path=other)).resolve_job_def(
            "prepare_data"
        ).execute_in_process(instance=instance)
        newest = latest_data_version(instance, "train_playlists")
        assert {path.name for path in folder.iterdir()} == {version, newest, CURRENT_BUILD_FILE}, (
            "the last good build stays"
        )
        assert defs.resources["training_files"].current().data_version == newest

        instance.add_dynamic_partitions(model_configs.name, ["wide-window", "dim16-ep3-mc2-win5"])
        for key in instance.get_dynamic_partitions(model_configs.name):
            defs.resolve_job_def("train_models").execute_in_process(instance=instance, partition_key=key)
        shutil.rmtree(folder)
        selection = defs.resolve_job_def("select_best_model").execute_in_process(
            instance=instance, raise_on_error=False
        )
    assert not selection.success
    assert "No data build is recorded under" in str(
        selection.get_step_failure_events()[0].step_failure_data.error
    )


def test_every_stored_thing_is_an_asset_with_its_lineage(small_settings: Settings):
    graph = build_definitions(small_settings).resolve_asset_graph()

    def upstream(asset: str) -> set[str]:
        return {key.to_user_string() for key in graph.get(dg.AssetKey(asset)).parent_keys}

    assert upstream("training_statistics") == {"train_playlists"}
    assert upstream("baselines") == {"training_statistics", "validate_playlists", "test_playlists"}
    assert upstream("embedding_model") == {"training_statistics", "validate_playlists"}
    assert upstream("best_model") == {"embedding_model", "baselines"}, "selection reads no split"
    assert upstream("test_evaluation") == {"best_model", "baselines", "training_statistics", "test_playlists"}


OTHER_FAMILIES = """
[[config]]
model = "rules"
steps = 5

[[config]]
model = "session_knn"
k = 50

[[config]]
model = "hybrid"
rules_steps = 5
knn_k = 50

[[config]]
model = "reranker"
rules_steps = 5
knn_k = 50
candidates = 50
trees = 20

[[config]]
name = "fusion"
model = "hybrid"
parts = ["rules-div-last3-recencydiv-steps5", "knn-k50-div-idf1", "wide-window"]
"""


def test_every_family_trains_as_a_partition_and_the_best_of_all_is_served(
    small_settings: Settings, tmp_path: Path
):
    """Word2Vec, rules, session kNN and the hybrid are partitions of one fan-out; best_model
    compares them all on validation, and the served model of any family evaluates and
    recommends."""
    from recsys_assets.core.models.trained import read_summary
    from recsys_assets_tests.conftest import FAST_CONFIGS

    settings = replace(
        small_settings, search_space_path=write_search_space(tmp_path, FAST_CONFIGS + OTHER_FAMILIES)
    )
    with dg.instance_for_test() as instance:
        result = retrain(settings, instance)
        selected = latest_metadata(instance, "best_model")
        keys = [config.key for config in load_search_space(settings.search_space_path)]
        assert sorted(selected["configs_compared"]) == sorted(keys)
        assert {"rules-div-last3-recencydiv-steps5", "knn-k50-div-idf1", "hybrid-steps5-last3-k50"} <= set(
            keys
        )
        summaries = {
            key: read_summary(str(settings.models_dir / "embedding_model" / f"{key}.npz")) for key in keys
        }
        assert {summary.family for summary in summaries.values()} == {
            "word2vec",
            "rules",
            "session_knn",
            "hybrid",
            "reranker",
        }
        assert selected["winner"] == select_best(summaries).config_key
        served = load_best_model(instance, settings)
        assert served.family == summaries[served.config_key].family
        assert result.config_key == served.config_key and result.test_rows > 0
        listed = served.recommender().recommend(served.track_keys[:3], 10)
        assert len(listed.tracks) == 10
        hybrid = summaries["hybrid-steps5-last3-k50"]
        assert hybrid.params["rules_weight"] + hybrid.params["session_knn_weight"] == pytest.approx(1.0)
        fusion = summaries["fusion"].params["part_weights"]
        assert list(fusion) == ["rules-div-last3-recencydiv-steps5", "knn-k50-div-idf1", "wide-window"]
        assert sum(fusion.values()) == pytest.approx(1.0)
        said = [
            event.message
            for run in instance.get_runs()
            for event in instance.all_logs(run.run_id)
            if event.message.startswith("Part ")
        ]
        assert sorted(said) == sorted(
            f"Part {key}: its trained model ({summaries[key].family_label})" for key in fusion
        )


def test_every_asset_names_its_owner_and_kind(small_settings: Settings):
    graph = build_definitions(small_settings).resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:recsys"], key
        assert any(tag.startswith("dagster/kind/") for tag in node.tags), key
