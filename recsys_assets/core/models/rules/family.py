"""The sequential-rules family: its parameters, fit and model file."""

from typing import Any

import numpy as np

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.family import Family
from recsys_assets.core.models.parameters import Parameter
from recsys_assets.core.models.rules.scorer import RECENCY_WEIGHTS, STEP_WEIGHTS, SequentialRules, fit_rules
from recsys_assets.core.models.sparse import scorer_fit
from recsys_assets.core.models.sparse_files import matrix_from_arrays, read_track_scorer, track_scorer_arrays


def build_rules(params: dict[str, Any], statistics: TrainStatistics, codes: np.ndarray, lengths: np.ndarray):
    """Rules fitted on the training playlists (`ScorerBuilder`)."""
    rules = fit_rules(codes, lengths, len(statistics.tracks), params["steps"], params["weighting"])
    return SequentialRules(rules, statistics, last_n=params["last_n"], recency=params["recency"])


FAMILY = Family(
    name=SequentialRules.family_name,
    label="sequential rules",
    score_kind=SequentialRules.score_kind,
    key_prefix="rules",
    parameters={
        "weighting": Parameter(
            str,
            "div",
            str,
            "weight w(d) of a pair d apart: `div` 1/d, `quadratic` 1/d², `log`"
            " 1/log10(d + 1.7), `linear` 1 - 0.1 d",
            choices=tuple(STEP_WEIGHTS),
        ),
        "last_n": Parameter(int, 3, lambda v: f"last{v}", "input tracks whose rules score", 1, 100),
        "recency": Parameter(
            str,
            "div",
            lambda v: f"recency{v}",
            "weight of the j-th input track from the end: `div` 1/j, `exponential` e^(1-j)",
            choices=tuple(RECENCY_WEIGHTS),
        ),
        "steps": Parameter(int, 10, lambda v: f"steps{v}", "largest distance d of a rule's pair", 1, 100),
    },
    fit=scorer_fit(build_rules),
    write=track_scorer_arrays,
    read=read_track_scorer,
    layout_reader=lambda layout, prefix, arrays, statistics, families: SequentialRules(
        matrix_from_arrays(prefix, arrays), statistics, layout["last_n"], layout["recency"]
    ),
)
