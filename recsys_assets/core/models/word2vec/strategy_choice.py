"""Scoring a Word2Vec model under every query strategy, and choosing the strategy it ships with."""

from __future__ import annotations

from dataclasses import dataclass, replace

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.evaluation.evaluator import (
    STRATEGY_ROWS,
    evaluate,
    ranking_summary,
    sample_cases,
)
from recsys_assets.core.evaluation.metrics import metric_name
from recsys_assets.core.evaluation.ranking import ProgressCallback
from recsys_assets.core.models.successors import successor_ranks
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.ranking import embedding_outranks, embedding_rankings
from recsys_assets.core.models.word2vec.recommender import EmbeddingRecommender
from recsys_assets.core.models.word2vec.strategies import (
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


@dataclass(frozen=True)
class StrategyResult:
    """A strategy and the model's metrics under it."""

    strategy: QueryStrategy
    metrics: dict[str, float]


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
