"""The built-in demo data teaches the seed's configs something a popularity list cannot."""

import duckdb
import pytest

from recsys_assets.core.demo_data import DemoDataSpec, write_demo_rows
from recsys_assets.core.evaluate import (
    EvaluationCases,
    TrainStatistics,
    embedding_ranks,
    hit_rate,
    popularity_ranks,
)
from recsys_assets.core.playlists import build_playlist_table, split_playlists
from recsys_assets.core.search_space import load_search_space
from recsys_assets.core.train import as_sentences, train_embeddings
from recsys_assets.settings import PACKAGED_SEARCH_SPACE


@pytest.fixture(scope="module")
def demo_splits(tmp_path_factory):
    with duckdb.connect() as conn:
        build_playlist_table(conn, write_demo_rows(tmp_path_factory.mktemp("demo"), DemoDataSpec()))
        split_playlists(conn, seed=42)
        train = conn.execute("SELECT track_sequence, artist_sequence FROM train_playlists").fetchall()
        rows = conn.execute(
            "SELECT track_test_x, artist_sequence, track_test_y FROM validate_playlists"
        ).fetchall()
    sentences = as_sentences(r[0] for r in train)
    statistics = TrainStatistics.from_sequences(sentences, as_sentences(r[1] for r in train))
    return sentences, statistics, EvaluationCases.from_columns(*zip(*rows, strict=True))


@pytest.mark.parametrize("config", load_search_space(PACKAGED_SEARCH_SPACE), ids=lambda c: c.key)
def test_seed_configs_beat_the_most_popular_baseline_on_demo_data(demo_splits, config):
    sentences, statistics, cases = demo_splits
    baseline = hit_rate(popularity_ranks(statistics, cases), 100)
    vectors = train_embeddings(sentences, config.params, seed=42)
    model = hit_rate(embedding_ranks(vectors, cases, seed=42).ranks, 100)
    assert model > 1.3 * baseline, f"{config.key}: {model:.3f} vs most popular {baseline:.3f}"
