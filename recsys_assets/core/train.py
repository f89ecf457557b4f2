"""Training a Word2Vec ("Prod2Vec") track embedding on playlist sequences."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gensim.models.callbacks import CallbackAny2Vec
from gensim.models.keyedvectors import KeyedVectors
from gensim.models.word2vec import MAX_WORDS_IN_BATCH, Word2Vec

EpochCallback = Callable[[int, int], None]
MAX_SENTENCE_LENGTH = MAX_WORDS_IN_BATCH
"""gensim's C training loop reads at most this many words of a sentence; the rest never train."""
DEFAULT_WINDOW = 5


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


def split_long_sentences(sentences: list[list[str]], window: int) -> list[list[str]]:
    """The sentences, each longer than `MAX_SENTENCE_LENGTH` cut into pieces of at most that
    length that overlap by `window` tracks, so every track trains with its whole context."""
    step = MAX_SENTENCE_LENGTH - window
    pieces = []
    for sentence in sentences:
        if len(sentence) <= MAX_SENTENCE_LENGTH:
            pieces.append(sentence)
            continue
        for start in range(0, len(sentence) - window, step):
            pieces.append(sentence[start : start + MAX_SENTENCE_LENGTH])
    return pieces


def count_long_sentences(sentences: Iterable[Sequence[str]]) -> int:
    """How many sentences are longer than gensim trains in one piece."""
    return sum(len(sentence) > MAX_SENTENCE_LENGTH for sentence in sentences)


def train_embeddings(
    sentences: list[list[str]],
    params: Mapping[str, Any],
    seed: int,
    workers: int = 1,
    on_epoch: EpochCallback | None = None,
) -> KeyedVectors:
    """Track vectors of a Word2Vec model trained with `params`; one worker is bit-reproducible.

    Playlists longer than gensim's limit train in overlapping pieces (`split_long_sentences`).
    """
    epochs = int(params.get("epochs", 5))
    callbacks = [_EpochProgress(epochs, on_epoch)] if on_epoch else []
    pieces = split_long_sentences(sentences, int(params.get("window", DEFAULT_WINDOW)))
    try:
        model = Word2Vec(sentences=pieces, seed=seed, workers=workers, callbacks=callbacks, **params)
    except RuntimeError as error:
        if "vocabulary" not in str(error):
            raise
        raise TrainingError(
            f"no track occurs often enough to train with {dict(params)} on {len(sentences)}"
            " playlists; lower min_count or use more data"
        ) from None
    return model.wv
