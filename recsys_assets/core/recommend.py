"""Next-track recommendations for a playlist given as track ids, and search by name."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from gensim.models.keyedvectors import KeyedVectors

from recsys_assets.core.baselines import Successors
from recsys_assets.core.playlists import split_track_id
from recsys_assets.core.strategies import SEED_STRATEGY, QueryStrategy, playlist_query, vocabulary_by_artist


@dataclass(frozen=True)
class Recommendations:
    """The top tracks with their scores, what the query was, and the input tracks the model
    does not know."""

    tracks: list[tuple[str, float]]
    query: str
    unknown_tracks: list[str]


def recommend(
    vectors: KeyedVectors,
    tracks: Sequence[str],
    k: int = 10,
    strategy: QueryStrategy = SEED_STRATEGY,
    seed: int = 0,
    successors: Successors | None = None,
) -> Recommendations:
    """The k tracks most likely to come next after `tracks`, as the evaluation ranks them.

    Scores are cosine similarities; when the strategy falls back on the most popular tracks,
    scores are training counts, and successors (with `successors_first`, read from the model's
    `successors`) score the times they followed the last track. Tracks the query uses are left
    out of the embedding's part.
    """
    if not tracks:
        raise ValueError("give at least one track")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if strategy.successors_first and successors is None:
        raise ValueError("the strategy ranks successors first, but the model has no successor lists")
    first = _successors_of(tracks[-1], strategy, successors) if successors is not None else []
    taken = {track for track, _ in first}
    key_to_index = vectors.key_to_index
    unknown = [track for track in tracks if track not in key_to_index]
    unit = vectors.get_normed_vectors()
    fallback = int(np.random.default_rng(seed).integers(0, len(unit)))
    last_artist = split_track_id(tracks[-1])[0]
    groups = vocabulary_by_artist(vectors) if strategy.cold_start == "artist" else {}
    query, left_out = playlist_query(tracks, last_artist, key_to_index, unit, strategy, fallback, groups)
    wanted = k + len(taken)
    if query is None:
        counts = np.asarray(vectors.expandos["count"])
        best = np.lexsort((np.arange(len(counts)), -counts))[:wanted]
        rest = [(vectors.index_to_key[i], float(counts[i])) for i in best]
        described = "most popular tracks (no known track)"
    else:
        scores = unit @ query
        scores[left_out] = -np.inf
        top = np.argpartition(scores, -wanted)[-wanted:] if wanted < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]
        rest = [(vectors.index_to_key[i], float(scores[i])) for i in top if np.isfinite(scores[i])]
        used = [vectors.index_to_key[i] for i in left_out]
        if not used:
            described = f"similar to {last_artist}'s known tracks (no known track)"
        elif set(used) & set(tracks):
            described = f"similar to {', '.join(used)}"
        else:
            described = f"similar to random track {used[0]} (no known track)"
    if first:
        described = f"{len(first)} track(s) that followed {tracks[-1]} in training first, then {described}"
    chosen = (first + [(track, score) for track, score in rest if track not in taken])[:k]
    return Recommendations(chosen, described, unknown)


def _successors_of(track: str, strategy: QueryStrategy, successors: Successors) -> list[tuple[str, float]]:
    if not strategy.successors_first:
        return []
    index = successors.index_of([track])[0]
    span = slice(successors.start[index], successors.start[index + 1]) if index >= 0 else slice(0, 0)
    return [
        (str(successors.tracks[follower]), float(count))
        for follower, count in zip(successors.followers[span], successors.counts[span], strict=True)
        if count >= strategy.min_successor_count
    ]


class TrackNameIndex:
    """The vocabulary's artist and track names, lowercased once, for searches by words."""

    def __init__(self, vectors: KeyedVectors):
        self.keys = list(vectors.index_to_key)
        self.key_to_index = vectors.key_to_index
        names = [" ".join(split_track_id(key)).lower() for key in self.keys]
        self.text = "\n".join(names)
        self.starts = np.cumsum([0] + [len(name) + 1 for name in names[:-1]])
        self._found: dict[str, np.ndarray] = {}

    def _containing(self, word: str) -> np.ndarray:
        """Sorted indices of the tracks whose names contain `word` (no line break); remembered."""
        if word not in self._found:
            positions = np.fromiter(
                (match.start() for match in re.finditer(re.escape(word), self.text)), dtype=np.int64
            )
            self._found[word] = np.unique(np.searchsorted(self.starts, positions, side="right") - 1)
        return self._found[word]

    def search(self, text: str, limit: int = 20) -> list[str]:
        """Track ids whose artist or track name contains every word of `text`, ignoring case, in
        vocabulary order; an exact id (`artist|||track`) matches itself only."""
        if text in self.key_to_index:
            return [text]
        words = text.lower().split()
        if not words:
            return []
        found = functools.reduce(np.intersect1d, (self._containing(word) for word in words))
        return [self.keys[index] for index in found[:limit]]
