"""The sequential-rules family: its parameters, fit and model file."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.family import Family
from recsys_assets.core.models.file_checks import entry
from recsys_assets.core.models.parameters import ConfigError, Parameter
from recsys_assets.core.models.rules.scorer import RECENCY_WEIGHTS, STEP_WEIGHTS, SequentialRules, fit_rules
from recsys_assets.core.models.sparse import scorer_fit
from recsys_assets.core.models.sparse_files import matrix_from_arrays, read_track_scorer, track_scorer_arrays


def build_rules(params: dict[str, Any], statistics: TrainStatistics, codes: np.ndarray, lengths: np.ndarray):
    """Rules fitted on the training playlists (`ScorerBuilder`)."""
    rules = fit_rules(codes, lengths, len(statistics.tracks), params["steps"], params["weighting"])
    return SequentialRules(rules, statistics, last_n=params["last_n"], recency=params["recency"])


LINEAR_REACH = 9
"""The farthest distance the `linear` weighting gives any weight (1 - 0.1 d is 0 from 10 on)."""


def check_steps_reach_weights(where: str, params: Mapping[str, Any]) -> None:
    """Refuse steps the weighting gives no weight: they would change the key and nothing else."""
    if params["weighting"] == "linear" and params["steps"] > LINEAR_REACH:
        raise ConfigError(
            f"{where}: weighting 'linear' gives pairs more than {LINEAR_REACH} apart no weight, so steps"
            f" = {params['steps']} trains the same model as steps = {LINEAR_REACH}; set steps to at most"
            f" {LINEAR_REACH} or choose another weighting"
        )


def read_rules(
    layout: Mapping[str, Any],
    prefix: str,
    arrays: Mapping[str, np.ndarray],
    statistics: TrainStatistics,
    families: Mapping[str, Any],
) -> SequentialRules:
    """The rules `SequentialRules.file_layout` and `file_arrays` wrote under `prefix`."""
    tracks = len(statistics.tracks)
    return SequentialRules(
        matrix_from_arrays(prefix, arrays, values=True, rows=tracks, columns=tracks),
        statistics,
        entry(layout, "last_n", int, low=1),
        entry(layout, "recency", str, choices=RECENCY_WEIGHTS),
    )


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
    check_together=check_steps_reach_weights,
    write=track_scorer_arrays,
    read=read_track_scorer,
    layout_reader=read_rules,
)
