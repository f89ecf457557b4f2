"""The tracks that followed a track in training: listing them first, and ranking with them first over
any base ranking."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsys_assets.core.data.cases import MISSED, EvaluationCases, PlayedTracks
from recsys_assets.core.data.statistics import Successors, TrainStatistics
from recsys_assets.core.models.base import (
    TIMES_FOLLOWED,
    Scored,
)

Outranks = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Given case rows (rows,) and tracks (rows,), pairwise: whether the track comes before the row's
held-out track in the row's list."""


SUCCESSOR_PAIRS_PER_BATCH = 500_000
"""Row-follower pairs `successor_ranks` holds at once (about 200 MiB of vectors and indices)."""


def successor_ranks(
    base_ranks: np.ndarray,
    cases: EvaluationCases,
    successors: Successors,
    min_count: int,
    outranks: Outranks,
    leave_out_played: bool = False,
) -> np.ndarray:
    """Ranks when the tracks that followed each row's last input track in the training playlists
    at least `min_count` times come first (most often first), and the base list follows without
    them; shape (rows,). `base_ranks` (rows,) are the held-out tracks' ranks in the base lists and
    `outranks` compares a follower with the held-out track there. Exact wherever the base is.
    With `leave_out_played` the followers the playlist holds are left out too (the base ranks
    must already leave them out)."""
    played = PlayedTracks(cases.inputs, successors.index_of) if leave_out_played else None
    last = successors.index_of([inputs[-1] for inputs in cases.inputs])
    target = successors.index_of(cases.targets)
    ranks = base_ranks.copy()
    rows = np.flatnonzero(last >= 0)
    spans = successors.start[last[rows] + 1] - successors.start[last[rows]]
    ends = np.cumsum(spans)
    first = 0
    while first < len(rows):
        stop = max(
            first + 1, int(np.searchsorted(ends, ends[first] - spans[first] + SUCCESSOR_PAIRS_PER_BATCH))
        )
        _successors_first(successors, min_count, outranks, rows[first:stop], last, target, ranks, played)
        first = stop
    return ranks


def _successors_first(
    successors: Successors,
    min_count: int,
    outranks: Outranks,
    rows: np.ndarray,
    last: np.ndarray,
    target: np.ndarray,
    ranks: np.ndarray,
    played: PlayedTracks | None,
) -> None:
    """`successor_ranks` for `rows` (whose last track has successors), written into `ranks`."""
    starts = successors.start[last[rows]]
    spans = successors.start[last[rows] + 1] - starts
    pair_row = np.repeat(np.arange(len(rows)), spans)
    at = positions_within(spans) + np.repeat(starts, spans)
    kept = successors.counts[at] >= min_count
    if played is not None:
        kept &= ~played.holds(rows[pair_row], successors.followers[at])
    pair_row, follower = pair_row[kept], successors.followers[at[kept]]
    lengths = np.bincount(pair_row, minlength=len(rows))
    position = positions_within(lengths)
    hit = follower == target[rows[pair_row]]
    has_hit = np.zeros(len(rows), dtype=bool)
    has_hit[pair_row[hit]] = True
    ranks[rows[pair_row[hit]]] = position[hit]
    shifted = (lengths > 0) & ~has_hit & (ranks[rows] != MISSED)
    pairs = shifted[pair_row]
    above = np.zeros(len(rows), dtype=np.int64)
    if pairs.any():
        better = outranks(rows[pair_row[pairs]], follower[pairs])
        above += np.bincount(pair_row[pairs][better], minlength=len(rows))
    ranks[rows[shifted]] = lengths[shifted] + ranks[rows[shifted]] - above[shifted]


def popularity_outranks(statistics: TrainStatistics, target_ranks: np.ndarray) -> Outranks:
    """`Outranks` for rows whose base list is the most popular tracks, given the held-out tracks'
    places among every training track by popularity (`target_ranks`, rows,); tracks are indices
    into `statistics.tracks`."""

    def outranks(rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        return statistics.popularity_rank[tracks] < target_ranks[rows]

    return outranks


def positions_within(lengths: np.ndarray) -> np.ndarray:
    """0, 1, ... within each of consecutive groups of `lengths`; shape (lengths.sum(),)."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def followers_of(successors: Successors, track: str, min_count: int) -> Scored:
    """The tracks that followed `track` in training at least `min_count` times, with their
    counts, most often first."""
    index = successors.index_of([track])[0]
    if index < 0:
        return []
    span = slice(successors.start[index], successors.start[index + 1])
    counts = successors.counts[span]
    kept = counts >= min_count
    return [
        (str(track), float(count))
        for track, count in zip(
            successors.tracks[successors.followers[span][kept]], counts[kept], strict=True
        )
    ]


def successors_then(first: Scored, rest: Scored, k: int, rest_kind: str) -> tuple[Scored, tuple[str, ...]]:
    """`first` (followers of the last track), then `rest` without the tracks `first` holds: the
    top `k`, and what each score is."""
    taken = {track for track, _ in first}
    listed = (first + [(track, score) for track, score in rest if track not in taken])[:k]
    followed = min(len(first), k)
    return listed, (TIMES_FOLLOWED,) * followed + (rest_kind,) * (len(listed) - followed)
