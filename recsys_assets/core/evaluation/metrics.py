"""Next-track metrics: their names, and their values from the ranks of the held-out tracks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

METRIC_KS = (10, 50, 100)
"""K of the hit rates every table shows, beside the model's own K."""


CURVE_KS = (1, 2, 5, 10, 20, 50, 100)
"""K of the hit rate@K curves."""


Metric = Literal["hit_rate", "mrr", "ndcg", "coverage"]


def metric_name(metric: Metric, k: int) -> str:
    """The name a metric at cutoff k goes by everywhere: metadata, tables, model files."""
    return f"{metric}@{k}"


def split_metric_name(split: str, name: str) -> str:
    """A metric's name for the split it was measured on, e.g. validation_hit_rate@100."""
    return f"{split}_{name}"


def prefixed(metrics: Mapping[str, float], split: str) -> dict[str, float]:
    """The metrics named for the split they were measured on (`split_metric_name`)."""
    return {split_metric_name(split, name): value for name, value in metrics.items()}


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """Share of rows whose held-out track ranks in the top k; `ranks` has shape (rows,)."""
    return float(np.count_nonzero(ranks < k) / len(ranks)) if len(ranks) else 0.0


def ranking_metrics(ranks: np.ndarray, cutoff: int = max(METRIC_KS)) -> dict[str, float]:
    """Hit rate at each of `CURVE_KS` and `cutoff`, MRR and NDCG at `cutoff`.

    `ranks` holds the 0-based rank of each row's held-out track, shape (rows,).
    """
    rows = max(len(ranks), 1)
    metrics = {metric_name("hit_rate", k): hit_rate(ranks, k) for k in sorted({*CURVE_KS, cutoff})}
    inside = ranks[ranks < cutoff].astype(np.float64)
    metrics[metric_name("mrr", cutoff)] = float(np.sum(1.0 / (inside + 1.0)) / rows)
    metrics[metric_name("ndcg", cutoff)] = float(np.sum(1.0 / np.log2(inside + 2.0)) / rows)
    return metrics


def hit_rate_curve(metrics: Mapping[str, float]) -> dict[int, float]:
    """Hit rate@K by K for the `CURVE_KS` present in `metrics`."""
    return {k: metrics[metric_name("hit_rate", k)] for k in CURVE_KS if metric_name("hit_rate", k) in metrics}
