"""Training a Word2Vec ("Prod2Vec") track embedding on a corpus file of playlist sequences."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys_assets.core.data.corpus import Corpus

if TYPE_CHECKING:
    from gensim.models.keyedvectors import KeyedVectors
    from gensim.models.word2vec import Word2Vec
from recsys_assets.core.models.word2vec.parameters import WORD2VEC_DEFAULTS

EpochCallback = Callable[[int, int], None]
"""Called after each epoch with the epochs done and the epochs in all."""
Checkpoint = Callable[[int, "KeyedVectors"], bool]
"""Called after an epoch with the epochs done and the vectors so far; returning False stops."""


class TrainingError(ValueError):
    """A config that cannot train a model on the given data."""


def _named_view(model: Word2Vec, tracks: np.ndarray) -> KeyedVectors:
    """The model's vectors under track ids instead of codes, sharing the model's array (so it
    follows training) and its counts."""
    keys = [tracks[int(code)] for code in model.wv.index_to_key]
    from gensim.models.keyedvectors import KeyedVectors

    named = KeyedVectors(model.wv.vector_size, count=0, dtype=model.wv.vectors.dtype)
    named.index_to_key = keys
    named.key_to_index = {key: index for index, key in enumerate(keys)}
    named.vectors = model.wv.vectors
    named.expandos = model.wv.expandos
    return named


def train_embeddings(
    corpus: Corpus,
    params: Mapping[str, Any],
    seed: int,
    workers: int = 1,
    on_epoch: EpochCallback | None = None,
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 1,
) -> KeyedVectors:
    """Track vectors of a Word2Vec model trained with `params` on `corpus`; one worker is
    bit-reproducible.

    The vocabulary comes from the corpus's play counts, not from a scan of the file. Trains one
    epoch at a time on gensim's own linear learning-rate schedule (the same vectors as one call),
    so `checkpoint` can look at the vectors every `checkpoint_every` epochs and after the last,
    and stop training early.
    """
    settings = {**WORD2VEC_DEFAULTS, **params}
    epochs, alpha, min_alpha = int(settings["epochs"]), float(settings["alpha"]), float(settings["min_alpha"])
    from gensim.models.word2vec import Word2Vec

    model = Word2Vec(seed=seed, workers=workers, **params)
    model.build_vocab_from_freq(
        {str(code): int(plays) for code, plays in enumerate(corpus.plays)}, corpus_count=corpus.lines
    )
    if not model.wv.index_to_key:
        raise TrainingError(
            f"no track occurs often enough to train with {dict(params)} on {corpus.lines}"
            " playlists; lower min_count or use more data"
        )
    vectors = _named_view(model, corpus.tracks)
    for epoch in range(epochs):
        model.train(
            corpus_file=str(corpus.path),
            total_examples=corpus.lines,
            total_words=corpus.words,
            epochs=1,
            start_alpha=alpha - (alpha - min_alpha) * epoch / epochs,
            end_alpha=alpha - (alpha - min_alpha) * (epoch + 1) / epochs,
        )
        vectors.norms = None
        if on_epoch:
            on_epoch(epoch + 1, epochs)
        due = (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs
        if checkpoint and due and not checkpoint(epoch + 1, vectors):
            break
    vectors.norms = None
    return vectors
