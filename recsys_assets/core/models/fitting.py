"""Fitting a config of a family that scores tracks directly, and validating it."""

from __future__ import annotations

import time

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.corpus import Corpus, corpus_codes
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.evaluation.evaluator import (
    STRATEGY_ROWS,
    evaluate,
    ranking_summary,
    sample_cases,
)
from recsys_assets.core.evaluation.metrics import metric_name, ranking_metrics
from recsys_assets.core.evaluation.ranking import ProgressCallback
from recsys_assets.core.models.config import ModelConfig
from recsys_assets.core.models.families import HYBRID_RULES_WEIGHTS, fit_family, hybrid_parts
from recsys_assets.core.models.hybrid.scorer import Hybrid
from recsys_assets.core.models.trained import TrainedModel
from recsys_assets.core.models.word2vec.strategies import QueryStrategy


def fit_track_scorer(
    config: ModelConfig,
    corpus: Corpus,
    statistics: TrainStatistics,
    cases: EvaluationCases,
    seed: int,
    k: int,
    data_version: str,
    on_progress: ProgressCallback | None = None,
) -> TrainedModel:
    """Fit a rules, session kNN or hybrid `config` on the corpus and score it on `cases` (its
    `train_seconds` count both); a hybrid's rules weight is chosen on a seeded sample of `cases`
    (every weight from one scoring of its parts) and recorded in its params."""
    started = time.perf_counter()
    codes, lengths = corpus_codes(corpus)
    params = dict(config.params)
    validation = None
    if config.family == "hybrid":
        parts = {
            family: fit_family(family, part, statistics, codes, lengths)
            for family, part in hybrid_parts(params).items()
        }
        sample = sample_cases(cases, STRATEGY_ROWS, seed)
        grid = [(weight, round(1 - weight, 10)) for weight in HYBRID_RULES_WEIGHTS]
        both = (parts["rules"], parts["session_knn"])
        tried = Hybrid(both, grid[0], statistics).ranks_for_weights(sample, grid)
        hit_rate = metric_name("hit_rate", k)
        rates = {weights: ranking_metrics(ranks, k)[hit_rate] for weights, ranks in tried.items()}
        weights = max(grid, key=lambda w: (rates[w], -w[0]))
        scorer = Hybrid(both, weights, statistics)
        params |= {"rules_weight": weights[0], "session_knn_weight": weights[1]}
        if len(sample) == len(cases):
            validation = ranking_summary(scorer.ranking_of(cases, tried[weights], k), k)
    else:
        scorer = fit_family(config.family, params, statistics, codes, lengths)
    if validation is None:
        validation = evaluate(scorer, cases, k, on_progress)
    fitted = time.perf_counter() - started
    return TrainedModel(
        config_key=config.key,
        params=params,
        seed=seed,
        k=k,
        strategy=QueryStrategy(),
        validation=validation,
        validation_rows=len(cases),
        train_seconds=fitted,
        data_version=data_version,
        family=config.family,
        scorer=scorer,
    )
