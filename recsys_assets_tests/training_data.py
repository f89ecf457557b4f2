"""Models and statistics of small in-memory playlists, through the data build's own SQL."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gensim.models.keyedvectors import KeyedVectors

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.data.training_files import training_data_of
from recsys_assets.core.models.word2vec.train import train_embeddings


def statistics_of(sequences: Sequence[Sequence[str]]) -> TrainStatistics:
    """The training statistics a data build would store for these playlists."""
    with tempfile.TemporaryDirectory(prefix="recsys-test-") as folder:
        return training_data_of(sequences, Path(folder)).statistics


def train_on(
    sequences: Sequence[Sequence[str]], params: Mapping[str, Any], seed: int, **options: Any
) -> KeyedVectors:
    """Vectors trained with `params` on these playlists' corpus file, as a training run would."""
    with tempfile.TemporaryDirectory(prefix="recsys-test-") as folder:
        return train_embeddings(training_data_of(sequences, Path(folder)).corpus, params, seed, **options)
