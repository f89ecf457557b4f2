"""Finding tracks by the words of their artist and track names."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

from recsys_assets.core.data.track_ids import split_track_id


class TrackNameIndex:
    """The vocabulary's artist and track names, lowercased once, for searches by words."""

    def __init__(self, keys: Sequence[str]):
        self.keys = list(keys)
        self.key_to_index = {key: index for index, key in enumerate(self.keys)}
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
