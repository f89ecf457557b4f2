"""Scoring a model under every query strategy, and choosing the strategy it ships with."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from recsys_assets.core.cases import EvaluationCases
from recsys_assets.core.embedding import TrackEmbedding
from recsys_assets.core.metrics import metric_name, ranking_metrics
from recsys_assets.core.ranking import (
    ProgressCallback,
    Ranking,
    embedding_outranks,
    embedding_rankings,
    successor_ranks,
)
from recsys_assets.core.recommenders import EmbeddingRecommender, Recommender, baselines
from recsys_assets.core.statistics import TrainStatistics
from recsys_assets.core.strategies import (
    COLD_STARTS_BY_INFORMATION,
    EMBEDDING_STRATEGIES,
    SUCCESSOR_COUNTS,
    QueryStrategy,
)

CURVE_STRATEGY = QueryStrategy(query="mean_last_n", last_n=3, cold_start="artist")
"""The embedding-only strategy learning curves are measured with."""
CURVE_ROWS = 2_000
CURVE_EVERY = 2
"""Epochs between two points of a learning curve (the same for every config, so the pruner
compares trials at the same steps)."""
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


@dataclass(frozen=True)
class StrategyResult:
    """A strategy and the model's metrics under it."""

    strategy: QueryStrategy
    metrics: dict[str, float]


def ranking_summary(ranking: Ranking, k: int) -> dict[str, float]:
    """Every metric of a ranking at cutoff k, with its out-of-vocabulary shares and coverage."""
    return {
        **ranking_metrics(ranking.ranks, k),
        "query_oov_share": float(1 - ranking.query_in_vocabulary.mean()),
        "target_oov_share": float(1 - ranking.target_in_vocabulary.mean()),
        metric_name("coverage", k): ranking.coverage,
    }


def evaluate(
    recommender: Recommender, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None
) -> dict[str, float]:
    """A model's metrics at cutoff k on `cases`."""
    return ranking_summary(recommender.rank(cases, k, on_progress), k)


def score_strategies(
    embedding: TrackEmbedding,
    cases: EvaluationCases,
    train: TrainStatistics,
    seed: int,
    k: int,
    on_progress: ProgressCallback | None = None,
) -> list[StrategyResult]:
    """The model's metrics under every embedding strategy, alone and with successors first at
    each of `SUCCESSOR_COUNTS`; the seed's strategy first. The embedding strategies are ranked
    together, each distinct query once, and one embedding ranking serves all the variants of its
    strategy."""
    rankings = embedding_rankings(
        embedding, cases, seed, EMBEDDING_STRATEGIES, train, top_k=k, on_progress=on_progress
    )
    results = []
    for number, (strategy, ranking) in enumerate(zip(EMBEDDING_STRATEGIES, rankings, strict=True), start=1):
        results.append(StrategyResult(strategy, ranking_summary(ranking, k)))
        outranks = embedding_outranks(ranking, embedding, cases, train)
        for count in SUCCESSOR_COUNTS:
            ranks = successor_ranks(ranking.ranks, cases, train.successors, count, outranks)
            results.append(
                StrategyResult(
                    replace(strategy, successors_first=True, min_successor_count=count),
                    ranking_summary(replace(ranking, ranks=ranks), k),
                )
            )
        if on_progress:
            on_progress("strategies scored", number, len(EMBEDDING_STRATEGIES))
    return results


def choose_on_sample(
    embedding: TrackEmbedding,
    cases: EvaluationCases,
    train: TrainStatistics,
    seed: int,
    k: int,
    rows: int = STRATEGY_ROWS,
    on_progress: ProgressCallback | None = None,
) -> tuple[list[StrategyResult], StrategyResult, int]:
    """Every strategy scored on a seeded sample of at most `rows` cases, the best of them with
    its metrics on all the cases, and the sample's size."""
    sample = sample_cases(cases, rows, seed)
    results = score_strategies(embedding, sample, train, seed, k, on_progress)
    chosen = choose_strategy(results, k)
    if len(sample) < len(cases):
        recommender = EmbeddingRecommender(embedding, chosen.strategy, seed, train)
        chosen = StrategyResult(chosen.strategy, evaluate(recommender, cases, k))
    return results, chosen, len(sample)


def choose_strategy(results: list[StrategyResult], k: int) -> StrategyResult:
    """The result with the highest hit rate@k; ties go to the more informative cold start
    (the artist's tracks, then the most popular, then a random track: few cold queries often
    tie them), then to the one listed first."""
    hit_rate = metric_name("hit_rate", k)
    _, chosen = max(
        enumerate(results),
        key=lambda numbered: (
            numbered[1].metrics[hit_rate],
            -COLD_STARTS_BY_INFORMATION.index(numbered[1].strategy.cold_start),
            -numbered[0],
        ),
    )
    return chosen


def baselines_beating(model_hit_rate: float, baseline_hit_rates: dict[str, float]) -> list[str]:
    """The baselines whose hit rate is at least the model's."""
    return [name for name, rate in baseline_hit_rates.items() if rate >= model_hit_rate]


def generalization_tolerance(hit_rate: float, validation_rows: int, test_rows: int) -> float:
    """How far a test hit rate may stray from the validation one by chance: three standard errors
    of the difference of two independent proportions near `hit_rate`, and at least 0.01."""
    variance = hit_rate * (1 - hit_rate)
    spread = np.sqrt(variance / max(validation_rows, 1) + variance / max(test_rows, 1))
    return float(max(0.01, 3 * spread))


@dataclass(frozen=True)
class BaselineResults:
    """The baselines' metrics at cutoff `k` on the validation and test splits of one data build,
    by baseline name."""

    data_version: str
    k: int
    validation: dict[str, dict[str, float]]
    test: dict[str, dict[str, float]]

    def hit_rates(self, split: str) -> dict[str, float]:
        """Each baseline's hit rate@k on `split` ("validation" or "test")."""
        results = self.validation if split == "validation" else self.test
        return {name: metrics[metric_name("hit_rate", self.k)] for name, metrics in results.items()}


def evaluate_baselines(
    statistics: TrainStatistics,
    validation: EvaluationCases,
    test: EvaluationCases,
    k: int,
    data_version: str,
) -> BaselineResults:
    """Every baseline recommender's metrics at cutoff k on both splits."""
    models = baselines(statistics)
    return BaselineResults(
        data_version=data_version,
        k=k,
        validation={name: evaluate(model, validation, k) for name, model in models.items()},
        test={name: evaluate(model, test, k) for name, model in models.items()},
    )


def verdict(model_hit_rate: float, baseline_hit_rates: dict[str, float], k: int, split: str) -> str:
    """One plain sentence: does the model beat every baseline on `split`?"""
    beaten_by = baselines_beating(model_hit_rate, baseline_hit_rates)
    if not beaten_by:
        return f"The model beats every baseline on {split} (hit rate@{k} {model_hit_rate:.4f})."
    return (
        f"A baseline beats the model on {split}: "
        + ", ".join(f"{name} {baseline_hit_rates[name]:.4f}" for name in beaten_by)
        + f" against the model's {model_hit_rate:.4f} (hit rate@{k})."
    )


@dataclass(frozen=True)
class TestEvaluation:
    """The shipped model on the test split: under its strategy and the tutorial flow's, beside
    the baselines, with the verdict people read."""

    __test__ = False

    config_key: str
    strategy: str
    k: int
    metrics: dict[str, float]
    seed_strategy_metrics: dict[str, float] | None
    """The same vectors under the tutorial flow's strategy; None for a model without vectors."""
    test_rows: int
    validation_hit_rate: float
    baseline_hit_rates: dict[str, float]
    verdict: str

    @property
    def test_hit_rate(self) -> float:
        return self.metrics[metric_name("hit_rate", self.k)]

    @property
    def test_hit_rate_seed_strategy(self) -> float | None:
        """The hit rate under the tutorial flow's strategy (None for a model without vectors)."""
        if self.seed_strategy_metrics is None:
            return None
        return self.seed_strategy_metrics[metric_name("hit_rate", self.k)]
