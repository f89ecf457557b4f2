"""The built-in demo data teaches the seed's configs something a popularity list cannot."""

import duckdb
import pytest

from recsys_assets.core.baselines import TrainStatistics, popularity_ranks
from recsys_assets.core.demo_data import DemoDataSpec, write_demo_rows
from recsys_assets.core.metrics import hit_rate
from recsys_assets.core.playlists import build_playlist_table, read_splits, split_playlists
from recsys_assets.core.ranking import embedding_ranks
from recsys_assets.core.search_space import load_search_space
from recsys_assets.core.train import train_embeddings
from recsys_assets.settings import PACKAGED_SEARCH_SPACE


@pytest.fixture(scope="module")
def demo_splits(tmp_path_factory):
    with duckdb.connect() as conn:
        build_playlist_table(conn, write_demo_rows(tmp_path_factory.mktemp("demo"), DemoDataSpec()))
        split_playlists(conn, seed=42)
        sentences, cases = read_splits(conn)
    return sentences, TrainStatistics.from_sequences(sentences), cases


@pytest.mark.parametrize("config", load_search_space(PACKAGED_SEARCH_SPACE), ids=lambda c: c.key)
def test_seed_configs_beat_the_most_popular_baseline_on_demo_data(demo_splits, config):
    sentences, statistics, cases = demo_splits
    baseline = hit_rate(popularity_ranks(statistics, cases), 100)
    vectors = train_embeddings(sentences, config.params, seed=42)
    model = hit_rate(embedding_ranks(vectors, cases, seed=42).ranks, 100)
    assert model > 1.3 * baseline, f"{config.key}: {model:.3f} vs most popular {baseline:.3f}"
