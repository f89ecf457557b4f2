"""The hybrid: a weighted sum of other fitted models' scores, each row divided by its largest
score so that the parts weigh what their weights say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.cases import EvaluationCases
from recsys_assets.core.score_ranking import SCORE_DECIMALS, TrackScorer, scored_ranks
from recsys_assets.core.statistics import TrainStatistics


def _fused(parts: Sequence[sp.csr_matrix | None], weights: Sequence[float], shape) -> sp.csr_matrix:
    """The weighted sum of row-normalised part scores, rounded like every family's scores."""
    fused = sp.csr_matrix(shape, dtype=np.float64)
    for part, weight in zip(parts, weights, strict=True):
        if weight:
            fused = fused + weight * part
    fused = fused.tocsr()
    fused.data = np.round(fused.data, SCORE_DECIMALS)
    fused.eliminate_zeros()
    return fused


def row_normalised(scores: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its largest entry (an empty row stays empty)."""
    scores = scores.tocsr()
    largest = scores.max(axis=1).toarray().reshape(-1)
    scale = np.divide(1.0, largest, out=np.zeros_like(largest, dtype=np.float64), where=largest > 0)
    return sp.diags(scale) @ scores


@dataclass(frozen=True)
class Hybrid(TrackScorer):
    """`parts` (fitted models over the same training tracks) fused: a track scores the sum over
    parts of weight times its row-normalised score there.

    `weights` (parts,) are non-negative and not all zero.
    """

    score_kind: ClassVar[str] = "fused score"

    parts: tuple[TrackScorer, ...]
    weights: tuple[float, ...]
    statistics: TrainStatistics
    rows_per_batch: int = 256

    def __post_init__(self) -> None:
        if len(self.parts) != len(self.weights) or not self.parts:
            raise ValueError(
                f"give one weight per part: {len(self.parts)} part(s), {len(self.weights)} weight(s)"
            )
        if not all(np.isfinite(w) and w >= 0 for w in self.weights) or not any(self.weights):
            raise ValueError(
                f"weights must be finite, non-negative and not all zero, got {list(self.weights)}"
            )

    def scores(self, inputs: Sequence[Sequence[str]]) -> sp.csr_matrix:
        parts = [row_normalised(part.scores(inputs)) if weight else None for part, weight in self._weighted()]
        return _fused(parts, self.weights, (len(inputs), len(self.statistics.tracks)))

    def _weighted(self):
        return zip(self.parts, self.weights, strict=True)

    def ranks_for_weights(
        self, cases: EvaluationCases, grid: Sequence[tuple[float, ...]]
    ) -> dict[tuple[float, ...], np.ndarray]:
        """The held-out tracks' ranks (rows,) under each weight tuple of `grid`, the parts
        scoring each batch once for all of them."""
        targets = self.statistics.index_of(cases.targets)
        ranks = {weights: np.empty(len(cases), dtype=np.int64) for weights in grid}
        for start in range(0, len(cases), self.rows_per_batch):
            stop = min(start + self.rows_per_batch, len(cases))
            inputs = cases.inputs[start:stop]
            parts = [row_normalised(part.scores(inputs)) for part in self.parts]
            for weights in grid:
                fused = _fused(parts, weights, (len(inputs), len(self.statistics.tracks)))
                ranks[weights][start:stop] = scored_ranks(
                    fused, targets[start:stop], self.statistics.popularity_rank
                )
        return ranks

    def describe(self, reached: int, tracks: Sequence[str]) -> str:
        return f"{reached} track(s) scored by {len(self.parts)} fused models, then the most played"
