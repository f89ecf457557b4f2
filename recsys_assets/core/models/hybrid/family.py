"""The hybrid family: fitted models' scores fused with weights chosen on validation, the parts
either its own rules and session kNN models or other configs' trained models, named."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from itertools import product
from typing import Any

import numpy as np

from recsys_assets.core.data.corpus import corpus_codes
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.evaluation.evaluator import STRATEGY_ROWS, ranking_summary, sample_cases
from recsys_assets.core.evaluation.metrics import metric_name, ranking_metrics
from recsys_assets.core.models.family import Alternative, Alternatives, Family, FitContext, Fitted
from recsys_assets.core.models.file_checks import DamagedModelFile, entry
from recsys_assets.core.models.hybrid.parts import (
    PART_PREFIXES,
    build_parts,
    check_parts_together,
    part_parameters,
)
from recsys_assets.core.models.hybrid.scorer import Hybrid
from recsys_assets.core.models.parameters import ConfigError, Parameter
from recsys_assets.core.models.sparse import validated_both_ways
from recsys_assets.core.models.sparse_files import read_layout, read_track_scorer, track_scorer_arrays

WEIGHT_STEPS = {2: 0.05, 3: 0.05, 4: 0.1, 5: 0.2, 6: 0.2}
"""The step of the weights a hybrid of so many parts tries on validation: every way of giving
the parts multiples of it that sum to 1, at least two parts weighted (2 parts: 19 weightings,
3: 228, 4: 282, 5 and 6: 121 and 246). Each weighting costs one ranking pass over scores
computed once; for two parts the best weights fell between the points of a coarser grid
(Spotify size: 99 s for the fit with these 19, 83 s with 5)."""
MOST_PARTS = max(WEIGHT_STEPS)


def weight_grid(parts: int) -> list[tuple[float, ...]]:
    """The weightings a hybrid of `parts` parts tries, the first part's weight ascending."""
    steps = round(1 / WEIGHT_STEPS[parts])
    return [
        tuple(round(share / steps, 10) for share in shares)
        for shares in product(range(steps + 1), repeat=parts)
        if sum(shares) == steps and sum(share > 0 for share in shares) >= 2
    ]


def hybrid_key(params: Mapping[str, Any]) -> str | None:
    """`hybrid-of-<digest of the part keys>` for a hybrid of named configs, else None."""
    if not params.get("parts"):
        return None
    return f"hybrid-of-{hashlib.sha256(','.join(params['parts']).encode()).hexdigest()[:10]}"


def check_parts_alone(where: str, params: Mapping[str, Any]) -> None:
    """Refuse a hybrid of named configs that also sets its own parts' parameters; check its own
    parts' parameters together otherwise."""
    if not params.get("parts"):
        check_parts_together(where, params)
        return
    own = [name for name in OWN_PART_PARAMETERS if params.get(name) != OWN_PART_PARAMETERS[name].default]
    if own:
        raise ConfigError(
            f"{where}: a hybrid of named configs (`parts`) fuses their trained models; set {own[0]!r} on"
            " the config it names instead"
        )


def fit_hybrid(params: dict[str, Any], context: FitContext) -> Fitted:
    """Fit its own rules and kNN parts, or take the named configs' trained models; choose the
    weights on a seeded sample of the validation cases (every weighting from one scoring of the
    parts) and record them in the params; train seconds count the validation too."""
    started = time.perf_counter()
    statistics, cases, k = context.statistics, context.cases, context.k
    named = params.get("parts")
    if named:
        if context.trained_part is None:
            raise ValueError(
                "a hybrid of named configs fuses their trained models; train it with the configs it"
                " names (recsys-assets retrain)"
            )
        parts = tuple(context.trained_part(key) for key in named)
        labels = list(named)
    else:
        codes, lengths = corpus_codes(context.corpus)
        parts = build_parts(params, statistics, codes, lengths)
        labels = [family.label for family in PART_PREFIXES.values()]
    sample = sample_cases(cases, STRATEGY_ROWS, context.seed)
    grid = weight_grid(len(parts))
    tried = Hybrid(parts, grid[0], statistics).ranks_for_weights(sample, grid)
    hit_rate = metric_name("hit_rate", k)
    metrics = {weights: ranking_metrics(ranks[False], k) for weights, ranks in tried.items()}
    weights = max(grid, key=lambda w: (metrics[w][hit_rate], -grid.index(w)))
    scorer = Hybrid(parts, weights, statistics)
    if len(sample) == len(cases):
        validation, leaving_out = (
            ranking_summary(scorer.leaving_out_played(leave).ranking_of(cases, tried[weights][leave], k), k)
            for leave in (False, True)
        )
    else:
        validation, leaving_out = validated_both_ways(scorer, context)
    chosen = (
        {"part_weights": dict(zip(named, weights, strict=True))}
        if named
        else {"rules_weight": weights[0], "session_knn_weight": weights[1]}
    )
    return Fitted(
        scorer,
        validation,
        {**params, **chosen},
        train_seconds=time.perf_counter() - started,
        validation_leaving_out=leaving_out,
        alternatives=Alternatives(
            name="weights",
            rows=len(sample),
            tried=[
                Alternative(
                    {f"{label} weight": f"{weight:g}" for label, weight in zip(labels, w, strict=True)},
                    metrics[w],
                )
                for w in grid
            ],
            chosen=grid.index(weights),
        ),
    )


OWN_PART_PARAMETERS = part_parameters(
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
)


def read_hybrid(
    layout: Mapping[str, Any],
    prefix: str,
    arrays: Mapping[str, np.ndarray],
    statistics: TrainStatistics,
    families: Mapping[str, Any],
) -> Hybrid:
    """The hybrid `Hybrid.file_layout` and `file_arrays` wrote under `prefix`: its parts read
    by their own families."""
    parts = entry(layout, "parts", list)
    weights = entry(layout, "weights", list)
    if len(weights) != len(parts) or not all(
        isinstance(weight, int | float) and not isinstance(weight, bool) and 0 <= weight <= 1
        for weight in weights
    ):
        raise DamagedModelFile(
            f"the model's layout has weights {weights!r}, expected one from 0 to 1 for each of its"
            f" {len(parts)} parts"
        )
    # A hybrid written before candidates were kept fused every scored track of its parts.
    candidates = layout.get("candidates")
    if candidates is not None:
        candidates = entry(layout, "candidates", int, low=1)
    return Hybrid(
        tuple(
            read_layout(part, f"{prefix}part{number}_", arrays, statistics, families)
            for number, part in enumerate(parts)
        ),
        tuple(weights),
        statistics,
        candidates,
    )


FAMILY = Family(
    name=Hybrid.family_name,
    label="hybrid",
    score_kind=Hybrid.score_kind,
    key_prefix="hybrid",
    parameters={
        "parts": Parameter(
            list,
            None,
            lambda value: "",
            "other configs of the search space whose trained models it fuses, by key (any family);"
            " unset: its own rules and session kNN parts, set by the parameters below",
            2,
            MOST_PARTS,
            optional=True,
        ),
        **OWN_PART_PARAMETERS,
    },
    fit=fit_hybrid,
    write=track_scorer_arrays,
    read=read_track_scorer,
    custom_key=hybrid_key,
    check_together=check_parts_alone,
    layout_reader=read_hybrid,
)
