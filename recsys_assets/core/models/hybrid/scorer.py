"""The hybrid: a weighted sum of other fitted models' scores over each one's best candidate
tracks, each row divided by its largest score so that the parts weigh what their weights say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.data.cases import EvaluationCases, PlayedTracks, without_played
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.sparse import (
    SCORE_DECIMALS,
    TrackScorer,
    precedes,
    ranks_per_scoring,
    row_thresholds,
)

CANDIDATES = 1_000
"""How many of its best tracks per playlist a part passes to the fusion (ties at the last kept)."""


def best_candidates(scores: sp.csr_matrix, candidates: int | None) -> sp.csr_matrix:
    """Each row's entries scoring at least its `candidates`-th largest (all when None), each row
    divided by its largest entry, indices sorted."""
    scores = scores.tocsr()
    lengths = np.diff(scores.indptr)
    row_of = np.repeat(np.arange(scores.shape[0]), lengths)
    if candidates is not None:
        kept = scores.data >= row_thresholds(scores, candidates)[row_of]
        row_of, lengths = row_of[kept], np.bincount(row_of[kept], minlength=scores.shape[0])
        scores = sp.csr_matrix(
            (scores.data[kept], scores.indices[kept], np.concatenate(([0], np.cumsum(lengths)))),
            shape=scores.shape,
        )
    largest = np.zeros(scores.shape[0])
    filled = lengths > 0
    largest[filled] = np.maximum.reduceat(scores.data, scores.indptr[:-1][filled])
    scores.data = scores.data / largest[row_of]
    scores.sort_indices()
    return scores


def aligned(parts: Sequence[sp.csr_matrix]) -> tuple[sp.csr_matrix, np.ndarray]:
    """The union of the parts' entries (rows, tracks), indices sorted, and each part's scores
    there, 0 where it has none: shape (parts, entries). Each part has sorted indices."""
    union = parts[0].copy()
    for part in parts[1:]:
        union = union + part
    union = union.tocsr()
    tracks = union.shape[1]

    def keys(matrix: sp.csr_matrix) -> np.ndarray:
        row_of = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
        return row_of * tracks + matrix.indices

    union_keys = keys(union)
    values = np.zeros((len(parts), union.nnz))
    for values_of_part, part in zip(values, parts, strict=True):
        values_of_part[np.searchsorted(union_keys, keys(part))] = part.data
    return union, values


def fused(values: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """The weighted sum of aligned part scores (parts, entries), rounded like every family's."""
    return np.round(np.asarray(weights, dtype=np.float64) @ values, SCORE_DECIMALS)


@dataclass(frozen=True)
class Hybrid(TrackScorer):
    """`parts` (fitted models over the same training tracks) fused: a track scores the sum over
    parts of weight times its row-normalised score there.

    `weights` (parts,) are non-negative and not all zero; each part passes on its best
    `candidates` tracks per playlist (every scored track when None).
    """

    score_kind: ClassVar[str] = "fused score"
    family_name: ClassVar[str] = "hybrid"

    parts: tuple[TrackScorer, ...]
    weights: tuple[float, ...]
    statistics: TrainStatistics
    candidates: int | None = CANDIDATES
    rows_per_batch: int = 256
    """Rows scored at once: each part's scores of a batch, and their union, are held together."""

    def __post_init__(self) -> None:
        if len(self.parts) != len(self.weights) or not self.parts:
            raise ValueError(
                f"give one weight per part: {len(self.parts)} part(s), {len(self.weights)} weight(s)"
            )
        if self.candidates is not None and self.candidates < 1:
            raise ValueError(f"candidates must be at least 1 or None, got {self.candidates}")
        if not all(np.isfinite(w) and w >= 0 for w in self.weights) or not any(self.weights):
            raise ValueError(
                f"weights must be finite, non-negative and not all zero, got {list(self.weights)}"
            )

    def file_layout(self) -> dict[str, Any]:
        return {
            "family": self.family_name,
            "weights": list(self.weights),
            "candidates": self.candidates,
            "parts": [part.file_layout() for part in self.parts],
        }

    def file_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            name: array
            for number, part in enumerate(self.parts)
            for name, array in part.file_arrays(f"{prefix}part{number}_").items()
        }

    def scores(self, inputs: Sequence[Sequence[str]]) -> sp.csr_matrix:
        weighted = [(part, weight) for part, weight in zip(self.parts, self.weights, strict=True) if weight]
        union, values = self._aligned([part for part, _ in weighted], inputs)
        union.data = fused(values, [weight for _, weight in weighted])
        union.eliminate_zeros()
        return union

    def _aligned(self, parts: Sequence[TrackScorer], inputs: Sequence[Sequence[str]]):
        return aligned([best_candidates(part.scores(inputs), self.candidates) for part in parts])

    def ranks_for_weights(
        self, cases: EvaluationCases, grid: Sequence[tuple[float, ...]]
    ) -> dict[tuple[float, ...], dict[bool, np.ndarray]]:
        """The held-out tracks' ranks (rows,) under each weight tuple of `grid`, in lists that
        keep the playlist's own tracks (False) and that leave them out (True), the parts scoring
        each batch once for all of them."""
        statistics = self.statistics
        targets = statistics.index_of(cases.targets)
        ranks = {
            weights: {leave: np.empty(len(cases), dtype=np.int64) for leave in (False, True)}
            for weights in grid
        }
        for start, stop, union, values in self._aligned_batches(cases.inputs):
            batch_targets = targets[start:stop]
            played = PlayedTracks(cases.inputs[start:stop], statistics.index_of)
            scorings = [fused(values, weights) for weights in grid]
            batch_ranks = ranks_per_scoring(union, scorings, batch_targets, statistics.popularity_rank)
            for weights, scoring, kept in zip(grid, scorings, batch_ranks, strict=True):
                before = precedes(union, scoring, batch_targets, statistics.popularity_rank)
                ranks[weights][False][start:stop] = kept
                ranks[weights][True][start:stop] = without_played(kept, batch_targets, played, before)
        return ranks

    def _aligned_batches(self, inputs: Sequence[Sequence[str]]):
        for start in range(0, len(inputs), self.rows_per_batch):
            stop = min(start + self.rows_per_batch, len(inputs))
            yield start, stop, *self._aligned(self.parts, inputs[start:stop])

    def describe(self, reached: int, tracks: Sequence[str]) -> str:
        return f"{reached} track(s) scored by {len(self.parts)} fused models, then the most played"
