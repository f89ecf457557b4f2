"""Fitting one Word2Vec config and validating it: the vectors, the learning curve and the query
strategy it ships with, in one typed report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gensim.models.keyedvectors import KeyedVectors

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.corpus import Corpus
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.evaluation.evaluator import (
    evaluate,
    sample_cases,
)
from recsys_assets.core.evaluation.metrics import metric_name
from recsys_assets.core.evaluation.ranking import ProgressCallback
from recsys_assets.core.models.config import ModelConfig
from recsys_assets.core.models.trained import SUCCESSORS_PER_TRACK, TrainedModel
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.recommender import EmbeddingRecommender
from recsys_assets.core.models.word2vec.strategy_choice import (
    CURVE_EVERY,
    CURVE_ROWS,
    CURVE_STRATEGY,
    StrategyResult,
    choose_on_sample,
)
from recsys_assets.core.models.word2vec.train import EpochCallback, train_embeddings

CurvePoint = Callable[[int, float], bool]
"""Called with the epochs trained and the curve's hit rate@K then; returning False stops training."""


EARLY_PEAK_DROP = 0.1
"""How far (as a share of its peak) a learning curve's last point may fall below its peak before
the config counts as trained past its best."""


def early_peak(config_key: str, curve: dict[int, float], k: int) -> str | None:
    """One sentence when the learning `curve` (hit rate@k by epochs trained) ends more than
    `EARLY_PEAK_DROP` below its peak, else None."""
    if len(curve) < 2:
        return None
    last = max(curve)
    peak = max(curve, key=lambda epoch: (curve[epoch], -epoch))
    if curve[last] >= (1 - EARLY_PEAK_DROP) * curve[peak]:
        return None
    return (
        f"{config_key}'s embedding peaked at hit rate@{k} {curve[peak]:.4f} after {peak} epochs and"
        f" ended at {curve[last]:.4f} after {last}: fewer epochs may train a better model."
    )


@dataclass(frozen=True)
class FitReport:
    """A fitted config: its model (vectors, strategy, validation metrics, learning curve), every
    strategy's validation result on the rows they were compared on, and how the fit went."""

    model: TrainedModel
    strategies: list[StrategyResult]
    chosen: StrategyResult
    compared_rows: int
    stopped_at_epoch: int | None
    evaluation_seconds: float

    @property
    def seed_strategy_result(self) -> StrategyResult:
        """The tutorial flow's strategy (scored first)."""
        return self.strategies[0]


def fit_word2vec(
    config: ModelConfig,
    corpus: Corpus,
    statistics: TrainStatistics,
    cases: EvaluationCases,
    seed: int,
    k: int,
    data_version: str,
    workers: int = 1,
    on_curve_point: CurvePoint | None = None,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> FitReport:
    """Train `config` on `corpus`, measuring the embedding's hit rate@k on a fixed sample of
    `cases` every `CURVE_EVERY` epochs (`on_curve_point` may stop training there), then choose
    its query strategy on `cases`; the model records the `data_version` it was trained on."""
    curve_cases = sample_cases(cases, CURVE_ROWS, seed)
    curve: dict[int, float] = {}
    stopped: list[int] = []

    def checkpoint(epoch: int, vectors: KeyedVectors) -> bool:
        recommender = EmbeddingRecommender(TrackEmbedding(vectors), CURVE_STRATEGY, seed, statistics)
        curve[epoch] = evaluate(recommender, curve_cases, k)[metric_name("hit_rate", k)]
        if on_curve_point is not None and not on_curve_point(epoch, curve[epoch]):
            stopped.append(epoch)
            return False
        return True

    started = time.perf_counter()
    vectors = train_embeddings(
        corpus,
        config.params,
        seed=seed,
        workers=workers,
        on_epoch=on_epoch,
        checkpoint=checkpoint,
        checkpoint_every=CURVE_EVERY,
    )
    train_seconds = time.perf_counter() - started
    results, chosen, compared_rows = choose_on_sample(
        TrackEmbedding(vectors), cases, statistics, seed, k, on_progress=on_progress
    )
    strategy = chosen.strategy
    model = TrainedModel(
        config_key=config.key,
        params=config.params,
        seed=seed,
        vectors=vectors,
        k=k,
        strategy=strategy,
        validation=chosen.metrics,
        validation_rows=len(cases),
        train_seconds=train_seconds,
        successors=(
            statistics.successors.compact(strategy.min_successor_count, SUCCESSORS_PER_TRACK)
            if strategy.successors_first
            else None
        ),
        learning_curve=curve,
        data_version=data_version,
    )
    return FitReport(
        model=model,
        strategies=results,
        chosen=chosen,
        compared_rows=compared_rows,
        stopped_at_epoch=stopped[0] if stopped else None,
        evaluation_seconds=time.perf_counter() - started - train_seconds,
    )
