"""What evaluation asks of a model: the exact ranks of held-out tracks in its lists, with the
coverage of those lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from recsys_assets.core.data.cases import EvaluationCases

COVERAGE_QUERIES = 1_000

ProgressCallback = Callable[[str, int, int], None]
"""Called with what is counted, how many are done and how many in all."""


@dataclass(frozen=True)
class Ranking:
    """0-based rank of each held-out track in its row's list, and what the lists covered.

    `ranks`, `query_in_vocabulary` (the row's last input track is known to the model) and
    `target_in_vocabulary` have shape (rows,); `coverage` is the share of the model's tracks that
    appear in the top-K lists.
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
