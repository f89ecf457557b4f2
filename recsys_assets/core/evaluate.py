"""Next-track evaluation: exact cosine top-K ranks computed in batches, and hit rates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from gensim.models.keyedvectors import KeyedVectors

MISSED = np.iinfo(np.int64).max
"""Rank given to a held-out track the model cannot rank (out of vocabulary, or the query itself)."""

DEFAULT_CHUNK_BYTES = 256 * 2**20

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class NextTrackCases:
    """Evaluation rows: the query track (last of the input sequence) and the held-out next track."""

    queries: list[str]
    targets: list[str]

    @classmethod
    def from_sequences(cls, inputs: Iterable[Sequence[str]], targets: Iterable[str]) -> NextTrackCases:
        return cls(queries=[str(sequence[-1]) for sequence in inputs], targets=[str(t) for t in targets])

    def __len__(self) -> int:
        return len(self.targets)


@dataclass(frozen=True)
class HitRate:
    """Share of rows whose held-out track is among the top `k` recommendations."""

    k: int
    hits: int
    rows: int

    @property
    def value(self) -> float:
        return self.hits / self.rows if self.rows else 0.0


def hit_rate(ranks: np.ndarray, k: int) -> HitRate:
    """Hit rate@k from 0-based ranks of the held-out tracks."""
    return HitRate(k=k, hits=int(np.count_nonzero(ranks < k)), rows=len(ranks))


def embedding_ranks(
    vectors: KeyedVectors,
    cases: NextTrackCases,
    seed: int,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_progress: ProgressCallback | None = None,
) -> np.ndarray:
    """0-based rank of each held-out track among all tracks by cosine similarity to the query.

    Matches gensim's `most_similar(query)`: the query itself is left out. A query track missing
    from the vocabulary is replaced by a track drawn with `seed`, the same one for every model.
    """
    key_to_index = vectors.key_to_index
    size = len(vectors.index_to_key)
    fallback = np.random.default_rng(seed).integers(0, size, len(cases))
    query = np.array([key_to_index.get(q, -1) for q in cases.queries], dtype=np.int64)
    query = np.where(query < 0, fallback, query)
    target = np.array([key_to_index.get(t, -1) for t in cases.targets], dtype=np.int64)
    rankable = (target >= 0) & (target != query)

    unit = vectors.get_normed_vectors()
    ranks = np.full(len(cases), MISSED, dtype=np.int64)
    rows = np.flatnonzero(rankable)
    chunk = max(1, chunk_bytes // (size * (unit.itemsize + 1)))
    for start in range(0, len(rows), chunk):
        batch = rows[start : start + chunk]
        scores = unit[query[batch]] @ unit.T
        positions = np.arange(len(batch))
        target_scores = scores[positions, target[batch]]
        scores[positions, query[batch]] = -np.inf
        ranks[batch] = np.count_nonzero(scores > target_scores[:, None], axis=1)
        if on_progress:
            on_progress(min(start + chunk, len(rows)), len(rows))
    return ranks


def popularity_ranks(train_sequences: Iterable[Sequence[str]], cases: NextTrackCases) -> np.ndarray:
    """0-based rank of each held-out track in the most-popular-tracks-in-train list."""
    counts = Counter(str(track) for sequence in train_sequences for track in sequence)
    order = {track: rank for rank, (track, _) in enumerate(counts.most_common())}
    return np.array([order.get(t, MISSED) for t in cases.targets], dtype=np.int64)
