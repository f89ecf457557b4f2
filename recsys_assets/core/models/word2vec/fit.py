"""Fitting one Word2Vec config and validating it: the vectors, the learning curve and the query
strategy it ships with."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys_assets.core.evaluation.evaluator import (
    evaluate,
    sample_cases,
)
from recsys_assets.core.evaluation.metrics import metric_name
from recsys_assets.core.models.family import Alternative, Alternatives, FitContext, Fitted
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.model import SUCCESSORS_PER_TRACK, Word2VecModel
from recsys_assets.core.models.word2vec.parameters import gensim_params, patience
from recsys_assets.core.models.word2vec.recommender import EmbeddingRecommender
from recsys_assets.core.models.word2vec.strategies import QueryStrategy
from recsys_assets.core.models.word2vec.strategy_choice import (
    CURVE_EVERY,
    CURVE_ROWS,
    CURVE_STRATEGY,
    choose_on_sample,
)
from recsys_assets.core.models.word2vec.train import train_embeddings

if TYPE_CHECKING:
    from gensim.models.keyedvectors import KeyedVectors


def fit_word2vec(params: dict[str, Any], context: FitContext) -> Fitted:
    """Train the vectors on the corpus, measuring the embedding's hit rate@k on a fixed sample of
    the validation cases every `CURVE_EVERY` epochs (`context.on_curve_point` may stop training
    there, and so does a curve that has not risen for `patience` epochs: the best epoch's
    vectors are kept), then choose the query strategy on the cases (every strategy an
    `Alternative`)."""
    cases, statistics, seed, k = context.cases, context.statistics, context.seed, context.k
    curve_cases = sample_cases(cases, CURVE_ROWS, seed)
    curve: dict[int, float] = {}
    stopped: list[int] = []
    waits = patience(params)
    best = BestEpoch()

    def checkpoint(epoch: int, vectors: KeyedVectors) -> bool:
        recommender = EmbeddingRecommender(TrackEmbedding(vectors), CURVE_STRATEGY, seed, statistics)
        curve[epoch] = evaluate(recommender, curve_cases, k)[metric_name("hit_rate", k)]
        if waits:
            best.offer(epoch, curve[epoch], vectors)
        if context.on_curve_point is not None and not context.on_curve_point(epoch, curve[epoch]):
            stopped.append(epoch)
            return False
        return not waits or epoch - best.epoch < waits

    started = time.perf_counter()
    vectors = train_embeddings(
        context.corpus,
        gensim_params(params),
        seed=seed,
        workers=context.workers,
        on_epoch=context.on_epoch,
        checkpoint=checkpoint,
        checkpoint_every=CURVE_EVERY,
    )
    if waits and best.vectors is not None and best.epoch != max(curve):
        vectors.vectors, vectors.norms = best.vectors, None
    train_seconds = time.perf_counter() - started
    results, chosen, compared_rows = choose_on_sample(
        TrackEmbedding(vectors), cases, statistics, seed, k, on_progress=context.on_progress
    )
    strategy = chosen.strategy
    successors = (
        statistics.successors.compact(strategy.min_successor_count, SUCCESSORS_PER_TRACK)
        if strategy.successors_first
        else None
    )
    hit_rate = metric_name("hit_rate", k)
    return Fitted(
        model=Word2VecModel(vectors, successors),
        validation=chosen.metrics,
        params=params,
        train_seconds=train_seconds,
        strategy=strategy,
        learning_curve=curve,
        evaluation_seconds=time.perf_counter() - started - train_seconds,
        stopped_at_epoch=stopped[0] if stopped else None,
        kept_epoch=best.epoch if waits and best.vectors is not None else max(curve, default=None),
        alternatives=Alternatives(
            name="strategies",
            rows=compared_rows,
            tried=[Alternative(_strategy_settings(result.strategy), result.metrics) for result in results],
            chosen=next(number for number, result in enumerate(results) if result.strategy == strategy),
        ),
        notes={
            "strategy": strategy.label,
            "strategy_settings": strategy.as_dict(),
            "validation_hit_rate_seed_strategy": round(results[0].metrics[hit_rate], 4),
        },
        run_settings={"strategies_compared_on_rows": compared_rows, "word2vec_threads": context.workers},
    )


@dataclass
class BestEpoch:
    """The learning curve's best point so far and a copy of that epoch's vectors (tracks, dim)."""

    epoch: int = 0
    hit_rate: float = -1.0
    vectors: np.ndarray | None = None

    def offer(self, epoch: int, hit_rate: float, vectors: KeyedVectors) -> None:
        """Keep `vectors` when `hit_rate` is above the best so far."""
        if hit_rate > self.hit_rate:
            self.epoch, self.hit_rate, self.vectors = epoch, hit_rate, vectors.vectors.copy()


def _strategy_settings(strategy: QueryStrategy) -> dict[str, str]:
    return {
        "query": strategy.query_label,
        "cold start": strategy.cold_start,
        "successors first": strategy.successors_label,
    }
