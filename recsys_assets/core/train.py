"""Training a Word2Vec ("Prod2Vec") track embedding on playlist sequences."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gensim.models.keyedvectors import KeyedVectors
from gensim.models.word2vec import MAX_WORDS_IN_BATCH, Word2Vec

EpochCallback = Callable[[int, int], None]
"""Called after each epoch with the epochs done and the epochs in all."""
Checkpoint = Callable[[int, KeyedVectors], bool]
"""Called after an epoch with the epochs done and the vectors so far; returning False stops."""
MAX_SENTENCE_LENGTH = MAX_WORDS_IN_BATCH
"""gensim's C training loop reads at most this many words of a sentence; the rest never train."""
DEFAULT_WINDOW = 5
DEFAULT_EPOCHS = 5
DEFAULT_ALPHA = 0.025
DEFAULT_MIN_ALPHA = 0.0001


class TrainingError(ValueError):
    """A config that cannot train a model on the given data."""


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
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 1,
) -> KeyedVectors:
    """Track vectors of a Word2Vec model trained with `params`; one worker is bit-reproducible.

    Trains one epoch at a time on gensim's own linear learning-rate schedule (the same vectors as
    one call), so `checkpoint` can look at the vectors every `checkpoint_every` epochs and after
    the last, and stop training early. Playlists longer than gensim's limit train in overlapping
    pieces (`split_long_sentences`).
    """
    epochs = int(params.get("epochs", DEFAULT_EPOCHS))
    alpha = float(params.get("alpha", DEFAULT_ALPHA))
    min_alpha = float(params.get("min_alpha", DEFAULT_MIN_ALPHA))
    pieces = split_long_sentences(sentences, int(params.get("window", DEFAULT_WINDOW)))
    model = Word2Vec(seed=seed, workers=workers, **params)
    model.build_vocab(pieces)
    if not model.wv.index_to_key:
        raise TrainingError(
            f"no track occurs often enough to train with {dict(params)} on {len(sentences)}"
            " playlists; lower min_count or use more data"
        )
    for epoch in range(epochs):
        model.train(
            pieces,
            total_examples=model.corpus_count,
            epochs=1,
            start_alpha=alpha - (alpha - min_alpha) * epoch / epochs,
            end_alpha=alpha - (alpha - min_alpha) * (epoch + 1) / epochs,
        )
        if on_epoch:
            on_epoch(epoch + 1, epochs)
        due = (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs
        if checkpoint and due and not checkpoint(epoch + 1, model.wv):
            break
    return model.wv
