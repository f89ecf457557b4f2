"""What evaluation asks of a model: the exact ranks of held-out tracks in its lists, with the
coverage of those lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from recsys_assets.core.data.cases import EvaluationCases

COVERAGE_ROWS = 1_000
"""The most evaluation rows whose top-K lists Coverage@K counts."""

ProgressCallback = Callable[[str, int, int], None]
"""Called with what is counted, how many are done and how many in all."""


@dataclass(frozen=True)
class Ranking:
    """0-based rank of each held-out track in its row's list, and what the lists covered.

    `ranks`, `query_in_vocabulary` (the row's last input track is known to the model) and
    `target_in_vocabulary` have shape (rows,); `coverage` is Coverage@K (`coverage`).
    """

    ranks: np.ndarray
    query_in_vocabulary: np.ndarray
    target_in_vocabulary: np.ndarray
    coverage: float


class Ranker(Protocol):
    """A fitted model as evaluation sees it."""

    def rank(self, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None) -> Ranking:
        """The exact 0-based rank of each case's held-out track in the list the model gives for
        its input tracks (`MISSED` where it cannot be listed), and the coverage of the top-`k`
        lists."""
        ...


def coverage_rows(rows: int, most: int = COVERAGE_ROWS) -> np.ndarray:
    """The evaluation rows Coverage@K counts the lists of: a fixed sample of at most `most` of
    `rows`, in order; shape (sampled,)."""
    return np.sort(np.random.default_rng(0).permutation(rows)[:most])


def coverage(listed: np.ndarray, tracks: int) -> float:
    """Coverage@K, the same for every model: the share of the `tracks` training tracks that appear
    in the top-K lists of the `coverage_rows`, given as `listed`, any array of their track indices."""
    if not tracks:
        return 0.0
    return float(
        np.count_nonzero(np.bincount(np.asarray(listed, dtype=np.int64).ravel(), minlength=tracks)) / tracks
    )
