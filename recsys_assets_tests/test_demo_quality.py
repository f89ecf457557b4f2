"""The built-in demo data teaches the seed's configs something a popularity list cannot."""

import duckdb
import pytest

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.demo_data import DEMO_SIZES, DemoDataSpec, write_demo_rows
from recsys_assets.core.data.playlists import (
    build_playlist_table,
    build_playlist_tables,
    evaluation_cases,
    split_playlists,
    track_sequences,
)
from recsys_assets.core.evaluation.metrics import hit_rate
from recsys_assets.core.models.baselines import PopularityRecommender
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.ranking import embedding_ranks
from recsys_assets.core.models.word2vec.strategy_choice import score_strategies
from recsys_assets.core.search.space import load_search_space
from recsys_assets.settings import PACKAGED_SEARCH_SPACE
from recsys_assets_tests.training_data import statistics_of, train_on


@pytest.fixture(scope="module")
def demo_splits(tmp_path_factory):
    with duckdb.connect() as conn:
        build_playlist_table(conn, write_demo_rows(tmp_path_factory.mktemp("demo"), DemoDataSpec()))
        split_playlists(conn, seed=42)
        sentences, cases = track_sequences(conn), evaluation_cases(conn, "validate_playlists")
    return sentences, statistics_of(sentences), cases


@pytest.mark.parametrize(
    "config",
    [c for c in load_search_space(PACKAGED_SEARCH_SPACE) if c.family == "word2vec"],
    ids=lambda c: c.key,
)
def test_seed_configs_beat_the_most_popular_baseline_on_demo_data(demo_splits, config):
    sentences, statistics, cases = demo_splits
    baseline = hit_rate(PopularityRecommender(statistics).rank(cases, 100).ranks, 100)
    vectors = train_on(sentences, config.params, seed=42)
    model = hit_rate(embedding_ranks(TrackEmbedding(vectors), cases, seed=42).ranks, 100)
    assert model > 1.3 * baseline, f"{config.key}: {model:.3f} vs most popular {baseline:.3f}"


def splits_of(spec: DemoDataSpec, directory) -> tuple[list[list[str]], EvaluationCases]:
    with duckdb.connect() as conn:
        build_playlist_tables(conn, write_demo_rows(directory, spec), seed=42)
        return track_sequences(conn), evaluation_cases(conn, "validate_playlists")


def test_selection_weighs_order_by_what_the_data_says(tmp_path):
    """Ordered playlists reward successors-first far more than day lists of the same tracks."""
    gains = {}
    for name in ("small", "daylists"):
        sentences, cases = splits_of(DEMO_SIZES[name], tmp_path)
        params = {"min_count": 2, "epochs": 5, "vector_size": 16, "window": 5}
        vectors = train_on(sentences, params, seed=42)
        results = score_strategies(TrackEmbedding(vectors), cases, statistics_of(sentences), seed=42, k=10)
        best = {
            uses_order: max(
                r.metrics["hit_rate@10"] for r in results if r.strategy.successors_first == uses_order
            )
            for uses_order in (False, True)
        }
        gains[name] = best[True] - best[False]
    assert gains["small"] > 1.5 * gains["daylists"] > 0, gains
