"""Query strategies: how a playlist becomes a query vector, and what an unknown track falls back on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any, Literal

import numpy as np

QueryMode = Literal["last", "mean_last_n"]
ColdStart = Literal["random", "artist", "popular"]
QUERY_MODES: tuple[QueryMode, ...] = ("last", "mean_last_n")
COLD_STARTS: tuple[ColdStart, ...] = ("random", "artist", "popular")
COLD_STARTS_BY_INFORMATION: tuple[ColdStart, ...] = ("artist", "popular", "random")
"""Cold starts from the most to the least informative, the order ties are broken in."""
NO_TRACKS = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class QueryStrategy:
    """How a playlist becomes a query, and what to do when its tracks are not in the vocabulary.

    query: `last` (the seed's) uses the last track; `mean_last_n` the mean of the last `last_n`
    tracks found in the vocabulary. cold_start: `random` (the seed's) queries a seeded random
    track; `artist` the mean of the last track's artist's known tracks; `popular` recommends the
    most popular training tracks. successors_first (sequence-aware): the tracks that followed the
    last track in the training playlists at least `min_successor_count` times come first, most
    often first, and the embedding's list follows.
    """

    query: QueryMode = "last"
    last_n: int = 3
    cold_start: ColdStart = "random"
    successors_first: bool = False
    min_successor_count: int = 1

    def __post_init__(self) -> None:
        if self.query not in QUERY_MODES:
            raise ValueError(f"query strategy {self.query!r}: expected 'last' or 'mean_last_n'")
        if self.cold_start not in COLD_STARTS:
            raise ValueError(f"cold_start {self.cold_start!r}: expected 'random', 'artist' or 'popular'")
        if self.last_n < 1:
            raise ValueError(f"last_n must be >= 1, got {self.last_n}")
        if self.min_successor_count < 1:
            raise ValueError(f"min_successor_count must be >= 1, got {self.min_successor_count}")

    @property
    def query_label(self) -> str:
        """How the query is formed: `last` or `mean of last N`."""
        return "last" if self.query == "last" else f"mean of last {self.last_n}"

    @property
    def successors_label(self) -> str:
        """Which successors of the last track come first: `none` or `seen N+`."""
        return f"seen {self.min_successor_count}+" if self.successors_first else "none"

    @property
    def label(self) -> str:
        """A short name for tables: query, cold start and sequence part."""
        sequence = f", successors (seen {self.min_successor_count}+) first" if self.successors_first else ""
        return f"{self.query_label}, cold start {self.cold_start}{sequence}"

    def as_dict(self) -> dict[str, Any]:
        """The strategy as JSON-ready values, as model files and metadata store it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> QueryStrategy:
        """The strategy stored by `as_dict`."""
        return cls(**values)


TUTORIAL_STRATEGY = QueryStrategy()
"""The seed flow's strategy: the last track, a seeded random track when it is unknown."""

EMBEDDING_STRATEGIES = tuple(
    QueryStrategy(query, 3, cold_start) for query in QUERY_MODES for cold_start in COLD_STARTS
)
"""Every way of querying the embedding alone; the seed's first."""
SUCCESSOR_COUNTS = (1, 2)
"""The successor thresholds every model is scored with."""


def _unit_mean(rows: np.ndarray) -> np.ndarray:
    mean = rows.mean(axis=0) if len(rows) > 1 else rows[0]
    return mean / np.linalg.norm(mean)


def playlist_query(
    inputs: Sequence[str],
    last_artist: str,
    key_to_index: Mapping[str, int],
    unit: np.ndarray,
    strategy: QueryStrategy,
    fallback: int,
    artist_tracks: Mapping[str, np.ndarray],
) -> tuple[np.ndarray | None, np.ndarray]:
    """One playlist's unit query vector, shape (dim,), or None to fall back on the most popular
    tracks; and the vocabulary indices of the tracks the query leaves out of its results.

    `unit` holds the unit-normalised vectors, shape (vocabulary, dim); `fallback` is the track a
    `random` cold start queries; `artist_tracks` maps an artist to the indices of its tracks, for
    an `artist` cold start.
    """
    if strategy.query == "last":
        known = key_to_index.get(inputs[-1], -1)
        used = np.array([known]) if known >= 0 else NO_TRACKS
    else:
        found = (index for index in (key_to_index.get(t, -1) for t in reversed(inputs)) if index >= 0)
        used = np.fromiter(islice(found, strategy.last_n), dtype=np.int64)
    if not len(used) and strategy.cold_start == "random":
        used = np.array([fallback])
    if len(used):
        return _unit_mean(unit[used]), used
    if strategy.cold_start == "artist" and last_artist in artist_tracks:
        return _unit_mean(unit[artist_tracks[last_artist]]), NO_TRACKS
    return None, NO_TRACKS
