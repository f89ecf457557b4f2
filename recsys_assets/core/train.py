"""Training a Word2Vec ("Prod2Vec") track embedding on playlist sequences."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gensim.models.callbacks import CallbackAny2Vec
from gensim.models.keyedvectors import KeyedVectors
from gensim.models.word2vec import Word2Vec

EpochCallback = Callable[[int, int], None]


class TrainingError(ValueError):
    """A config that cannot train a model on the given data."""


class _EpochProgress(CallbackAny2Vec):
    def __init__(self, total: int, report: EpochCallback):
        self.total = total
        self.report = report
        self.done = 0

    def on_epoch_end(self, model: Word2Vec) -> None:
        self.done += 1
        self.report(self.done, self.total)


def as_sentences(sequences: Iterable[Sequence[str]]) -> list[list[str]]:
    """Track sequences as the lists of str gensim trains on (DuckDB hands back arrays)."""
    return [[str(track) for track in sequence] for sequence in sequences]


def train_embeddings(
    sentences: list[list[str]],
    params: Mapping[str, Any],
    seed: int,
    workers: int = 1,
    on_epoch: EpochCallback | None = None,
) -> KeyedVectors:
    """Track vectors of a Word2Vec model trained with `params`; one worker is bit-reproducible."""
    epochs = int(params.get("epochs", 5))
    callbacks = [_EpochProgress(epochs, on_epoch)] if on_epoch else []
    try:
        model = Word2Vec(sentences=sentences, seed=seed, workers=workers, callbacks=callbacks, **params)
    except RuntimeError as error:
        if "vocabulary" not in str(error):
            raise
        raise TrainingError(
            f"no track occurs often enough to train with {dict(params)} on {len(sentences)}"
            " playlists; lower min_count or use more data"
        ) from None
    return model.wv
