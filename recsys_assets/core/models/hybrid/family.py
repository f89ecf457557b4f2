"""The hybrid family: a rules model and a session kNN model fused with the rules weight chosen
on validation."""

from __future__ import annotations

import time
from typing import Any

from recsys_assets.core.data.corpus import corpus_codes
from recsys_assets.core.evaluation.evaluator import STRATEGY_ROWS, evaluate, ranking_summary, sample_cases
from recsys_assets.core.evaluation.metrics import metric_name, ranking_metrics
from recsys_assets.core.models.family import Alternative, Alternatives, Family, FitContext, Fitted
from recsys_assets.core.models.hybrid.parts import build_parts, part_parameters
from recsys_assets.core.models.hybrid.scorer import Hybrid
from recsys_assets.core.models.sparse_files import read_layout, read_track_scorer, track_scorer_arrays

RULES_WEIGHTS = tuple(round(0.05 * step, 2) for step in range(1, 20))
"""The rules' weights a hybrid tries on validation, 0.05 to 0.95 in steps of 0.05 (the session
kNN's is the rest): the best weights fell between the points of a coarser grid, and each more
weight costs one ranking pass over scores computed once (Spotify size: 99 s for the fit with
these 19, 83 s with 5)."""


def fit_hybrid(params: dict[str, Any], context: FitContext) -> Fitted:
    """Fit both parts, choose the rules weight on a seeded sample of the validation cases (every
    weight from one scoring of the parts) and record it in the params; train seconds count the
    validation too."""
    started = time.perf_counter()
    statistics, cases, k = context.statistics, context.cases, context.k
    codes, lengths = corpus_codes(context.corpus)
    both = build_parts(params, statistics, codes, lengths)
    sample = sample_cases(cases, STRATEGY_ROWS, context.seed)
    grid = [(weight, round(1 - weight, 10)) for weight in RULES_WEIGHTS]
    tried = Hybrid(both, grid[0], statistics).ranks_for_weights(sample, grid)
    hit_rate = metric_name("hit_rate", k)
    metrics = {weights: ranking_metrics(ranks, k) for weights, ranks in tried.items()}
    weights = max(grid, key=lambda w: (metrics[w][hit_rate], -w[0]))
    scorer = Hybrid(both, weights, statistics)
    if len(sample) == len(cases):
        validation = ranking_summary(scorer.ranking_of(cases, tried[weights], k), k)
    else:
        validation = evaluate(scorer, cases, k, context.on_progress)
    return Fitted(
        scorer,
        validation,
        {**params, "rules_weight": weights[0], "session_knn_weight": weights[1]},
        train_seconds=time.perf_counter() - started,
        alternatives=Alternatives(
            name="weights",
            rows=len(sample),
            tried=[
                Alternative({"rules weight": f"{w[0]:g}", "session kNN weight": f"{w[1]:g}"}, metrics[w])
                for w in grid
            ],
            chosen=grid.index(weights),
        ),
    )


FAMILY = Family(
    name=Hybrid.family_name,
    label="hybrid of rules and session kNN",
    score_kind=Hybrid.score_kind,
    key_prefix="hybrid",
    parameters=part_parameters(
        dict.fromkeys(
            (
                "rules_steps",
                "rules_last_n",
                "rules_weighting",
                "knn_k",
                "knn_weighting",
                "knn_idf_weight",
                "knn_decay",
            )
        )
    ),
    fit=fit_hybrid,
    write=track_scorer_arrays,
    read=read_track_scorer,
    layout_reader=lambda layout, prefix, arrays, statistics, families: Hybrid(
        tuple(
            read_layout(part, f"{prefix}part{number}_", arrays, statistics, families)
            for number, part in enumerate(layout["parts"])
        ),
        tuple(layout["weights"]),
        statistics,
        # A hybrid written before candidates were kept fused every scored track of its parts.
        layout.get("candidates"),
    ),
)
