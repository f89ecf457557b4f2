"""Scoring any model on evaluation cases: its metrics at a cutoff, and fixed samples of the cases."""

from __future__ import annotations

import numpy as np

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.evaluation.metrics import metric_name, ranking_metrics
from recsys_assets.core.evaluation.ranking import ProgressCallback, Ranker, Ranking

STRATEGY_ROWS = 50_000
"""The most validation rows strategies are compared on: beyond it, a fixed sample (a hit rate's
standard error there is at most 0.0023), and the chosen strategy is scored on every row."""


def sample_cases(cases: EvaluationCases, rows: int, seed: int) -> EvaluationCases:
    """A fixed, seeded sample of at most `rows` cases, in their order."""
    if len(cases) <= rows:
        return cases
    chosen = np.sort(np.random.default_rng(seed).choice(len(cases), rows, replace=False))
    return EvaluationCases(
        inputs=[cases.inputs[i] for i in chosen],
        last_artists=[cases.last_artists[i] for i in chosen],
        targets=[cases.targets[i] for i in chosen],
    )


def ranking_summary(ranking: Ranking, k: int) -> dict[str, float]:
    """Every metric of a ranking at cutoff k, with its out-of-vocabulary shares and coverage."""
    return {
        **ranking_metrics(ranking.ranks, k),
        "query_oov_share": float(1 - ranking.query_in_vocabulary.mean()),
        "target_oov_share": float(1 - ranking.target_in_vocabulary.mean()),
        metric_name("coverage", k): ranking.coverage,
    }


def evaluate(
    recommender: Ranker, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None
) -> dict[str, float]:
    """A model's metrics at cutoff k on `cases`."""
    return ranking_summary(recommender.rank(cases, k, on_progress), k)
