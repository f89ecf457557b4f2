"""The one scoring path: every fitted model ranks held-out tracks for evaluation and lists the
next tracks for a playlist by the same rules, so metrics and recommendations never disagree.

A model family plugs in by implementing `Recommender`; evaluation, selection, the baselines and
`recsys-assets recommend` only call these two methods."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from recsys_assets.core.evaluation.ranking import Ranker

Scored = list[tuple[str, float]]
"""Tracks with their scores, best first."""


TIMES_FOLLOWED = "times followed"


PLAYS = "plays in training"


COUNTED_SCORES = (TIMES_FOLLOWED, PLAYS)
"""Score kinds that count something (shown as whole numbers)."""


@dataclass(frozen=True)
class Recommendations:
    """The top tracks with their scores, what each score is (`kinds`, one per track: e.g.
    `times followed`, `cosine similarity`, `plays in training`), what the query was, and the
    input tracks the model does not know."""

    tracks: Scored
    kinds: tuple[str, ...]
    query: str
    unknown_tracks: list[str]

    def __post_init__(self) -> None:
        if len(self.kinds) != len(self.tracks):
            raise ValueError(f"{len(self.tracks)} track(s) but {len(self.kinds)} score kind(s)")


def served_list(
    full_list: Callable[[Sequence[str], int], Recommendations],
    tracks: Sequence[str],
    k: int,
    leave_out_played: bool,
) -> Recommendations:
    """The first `k` tracks of a model's list for the playlist `tracks` (`full_list` gives the
    list that keeps the playlist's own tracks), those tracks left out when `leave_out_played`."""
    if not leave_out_played:
        return full_list(tracks, k)
    played = set(tracks)
    found = full_list(tracks, k + len(played))
    kept = [row for row in zip(found.tracks, found.kinds, strict=True) if row[0][0] not in played][:k]
    return replace(found, tracks=[track for track, _ in kept], kinds=tuple(kind for _, kind in kept))


class Recommender(Ranker, Protocol):
    """A fitted next-track model: it ranks evaluation cases (`Ranker.rank`) and lists the next
    tracks for a playlist, by the same rules."""

    def recommend(self, tracks: Sequence[str], k: int) -> Recommendations:
        """The `k` tracks the model lists first after the playlist `tracks`."""
        ...


def check_request(tracks: Sequence[str], k: int) -> None:
    if not tracks:
        raise ValueError("give at least one track")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
