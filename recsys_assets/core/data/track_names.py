"""Finding tracks by the words of their artist and track names, and turning what a user typed
(ids or words) into track ids the way `recommend` does."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recsys_assets.core.data.track_ids import TRACK_ID_SEPARATOR, split_track_id


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

    def closeness(self, index: int, words: Sequence[str]) -> int:
        """How closely track `index` matches `words` (lowercased), 0 closest: 0 its artist and
        name are the words, 1 its artist or its name is, 2 every word is a whole word of them, 3
        the words are only parts of words."""
        artist, name = (part.lower().split() for part in split_track_id(self.keys[index]))
        if list(words) == artist + name:
            return 0
        if list(words) in (artist, name):
            return 1
        return 2 if set(words) <= set(artist + name) else 3

    def search(self, text: str, limit: int = 20) -> list[str]:
        """Track ids whose artist or track name contains every word of `text`, ignoring case,
        closest first (`closeness`), then in vocabulary order; an exact id (`artist|||track`)
        matches itself only."""
        if text in self.key_to_index:
            return [text]
        words = text.lower().split()
        if not words:
            return []
        found = functools.reduce(np.intersect1d, (self._containing(word) for word in words))
        ranked = sorted(found.tolist(), key=lambda index: (self.closeness(index, words), index))
        return [self.keys[index] for index in ranked[:limit]]

    def exact(self, text: str) -> str | None:
        """The one track whose artist and name are the words of `text`, if exactly one is."""
        words = text.lower().split()
        matches = [
            key for key in self.search(text, limit=2) if self.closeness(self.key_to_index[key], words) == 0
        ]
        return matches[0] if len(matches) == 1 else None


@dataclass(frozen=True)
class ResolvedTracks:
    """What a user typed, as track ids in playlist order: ids as given, words as the track they
    name (`resolved`); words that name no track stay as typed, unknown to the model like an
    unknown id (`unmatched`); words that name several tracks are `ambiguous` (the closest
    candidates, at most `CANDIDATES_SHOWN` + 1)."""

    tracks: list[str]
    resolved: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)


CANDIDATES_SHOWN = 10
"""How many candidates an ambiguous query lists."""


def resolve_tracks(keys: Sequence[str], typed: Sequence[str]) -> ResolvedTracks:
    """`typed` (artist|||track ids or words of artist and track names) as ids among `keys`: an
    id stays as given; words name the one track whose names contain them all, or the one whose
    artist and name they are exactly."""
    names = TrackNameIndex(keys)
    result = ResolvedTracks(tracks=[])
    for text in typed:
        if TRACK_ID_SEPARATOR in text:
            result.tracks.append(text)
            continue
        matches = names.search(text, limit=CANDIDATES_SHOWN + 1)
        chosen = matches[0] if len(matches) == 1 else names.exact(text) if matches else None
        if chosen is not None:
            result.resolved[text] = chosen
            result.tracks.append(chosen)
        elif matches:
            result.ambiguous[text] = matches
        else:
            result.unmatched.append(text)
            result.tracks.append(text)
    return result
