"""The model families that score tracks directly (sequential rules, session kNN): each one's
parameters with their bounds and defaults, its readable config key, and its fit from a data
build's training files."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.rules.scorer import RECENCY_WEIGHTS, STEP_WEIGHTS, SequentialRules, fit_rules
from recsys_assets.core.models.session_knn.scorer import (
    POSITION_WEIGHTS,
    SessionKnn,
    playlist_matrix,
    playlist_positions,
)
from recsys_assets.core.models.sparse import TrackScorer


class FamilyConfigError(ValueError):
    """A family config that cannot be fitted as written."""


@dataclass(frozen=True)
class FamilyParameter:
    """One parameter of a family: its default, its bounds or its named choices, and how it reads
    in a config key."""

    default: Any
    key: Callable[[Any], str]
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Family:
    """A family: its key prefix, its parameters and how to fit it."""

    prefix: str
    parameters: dict[str, FamilyParameter]
    fit: Callable[[dict[str, Any], TrainStatistics, np.ndarray, np.ndarray], TrackScorer] | None


def _fit_rules(params: dict[str, Any], statistics: TrainStatistics, codes, lengths) -> SequentialRules:
    rules = fit_rules(codes, lengths, len(statistics.tracks), params["steps"], params["weighting"])
    return SequentialRules(rules, statistics, last_n=params["last_n"], recency=params["recency"])


def _fit_knn(params: dict[str, Any], statistics: TrainStatistics, codes, lengths) -> SessionKnn:
    matrix = playlist_matrix(codes, lengths, len(statistics.tracks))
    return SessionKnn(
        matrix,
        statistics,
        k=params["k"],
        weighting=params["weighting"],
        idf_weight=params["idf_weight"],
        decay=params["decay"],
        positions=playlist_positions(codes, lengths) if params["decay"] else None,
    )


FAMILIES: dict[str, Family] = {
    "rules": Family(
        "rules",
        {
            "weighting": FamilyParameter("div", str, choices=tuple(STEP_WEIGHTS)),
            "last_n": FamilyParameter(3, lambda v: f"last{v}", 1, 100),
            "recency": FamilyParameter("div", lambda v: f"recency{v}", choices=tuple(RECENCY_WEIGHTS)),
            "steps": FamilyParameter(10, lambda v: f"steps{v}", 1, 100),
        },
        _fit_rules,
    ),
    "session_knn": Family(
        "knn",
        {
            "k": FamilyParameter(100, lambda v: f"k{v}", 1, 10_000),
            "weighting": FamilyParameter("div", str, choices=tuple(POSITION_WEIGHTS)),
            "idf_weight": FamilyParameter(1.0, lambda v: f"idf{v:g}", 0, 100),
            "decay": FamilyParameter(0.0, lambda v: f"decay{v:g}" if v else "", 0, 1000),
        },
        _fit_knn,
    ),
}
FAMILIES["hybrid"] = Family(
    "hybrid",
    {
        "rules_steps": FamilyParameter(10, lambda v: f"steps{v}", 1, 100),
        "rules_last_n": FamilyParameter(3, lambda v: f"last{v}", 1, 100),
        "knn_k": FamilyParameter(100, lambda v: f"k{v}", 1, 10_000),
        "knn_decay": FamilyParameter(0.0, lambda v: f"decay{v:g}" if v else "", 0, 1000),
    },
    None,
)
"""Every family that scores tracks directly, by the `model` name a config gives. The hybrid fuses
a rules model and a session kNN model (their other parameters at their defaults) with weights
chosen on validation, so its fit lives with validation (`fitting.fit_track_scorer`)."""
HYBRID_RULES_WEIGHTS = (0.1, 0.3, 0.5, 0.7, 0.9)
"""The rules' weights a hybrid tries on validation (the session kNN's is the rest)."""


def hybrid_parts(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The rules and session kNN params a hybrid config's `params` name."""
    rules = {name: parameter.default for name, parameter in FAMILIES["rules"].parameters.items()}
    knn = {name: parameter.default for name, parameter in FAMILIES["session_knn"].parameters.items()}
    rules |= {"steps": params["rules_steps"], "last_n": params["rules_last_n"]}
    knn |= {"k": params["knn_k"], "decay": params["knn_decay"]}
    return {"rules": rules, "session_knn": knn}


def family_params(where: str, family: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The config's parameters checked and completed with the family's defaults;
    FamilyConfigError naming `where` and the parameter otherwise."""
    if not isinstance(family, str) or family not in FAMILIES:
        raise FamilyConfigError(
            f"{where}: unknown model {family!r}; expected one of: word2vec, {', '.join(FAMILIES)}"
        )
    spec = FAMILIES[family].parameters
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise FamilyConfigError(
            f"{where}: unknown {family} parameter {unknown[0]!r}; expected one of: {', '.join(sorted(spec))}"
        )
    return {
        name: check_family_parameter(where, family, name, given.get(name, parameter.default))
        for name, parameter in spec.items()
    }


def check_family_parameter(where: str, family: str, name: str, value: Any) -> Any:
    """`value` of the known parameter `name` of `family`, checked (an int where a float is
    expected becomes a float); FamilyConfigError naming `where` and the parameter otherwise."""
    parameter = FAMILIES[family].parameters[name]
    what = f"{where}: {family} parameter {name!r}"
    if parameter.choices:
        if value not in parameter.choices:
            raise FamilyConfigError(f"{what} must be one of {', '.join(parameter.choices)}, got {value!r}")
        return value
    expected = type(parameter.default)
    if isinstance(value, bool) or not isinstance(value, (int, float) if expected is float else int):
        raise FamilyConfigError(f"{what} must be {expected.__name__}, got {value!r} ({type(value).__name__})")
    value = expected(value)
    if not math.isfinite(value):
        raise FamilyConfigError(f"{what} must be a finite number, got {value!r}")
    if parameter.minimum is not None and value < parameter.minimum:
        raise FamilyConfigError(f"{what} must be >= {parameter.minimum:g}, got {value!r}")
    if parameter.maximum is not None and value > parameter.maximum:
        raise FamilyConfigError(f"{what} must be <= {parameter.maximum:g}, got {value!r}")
    return value


def family_key(family: str, params: Mapping[str, Any]) -> str:
    """A readable config key, e.g. `rules-div-last3-recencydiv-steps10` or `knn-k100-div-idf1`
    (a parameter whose key part is empty at its default, such as the kNN's decay, is left out)."""
    spec = FAMILIES[family]
    parts = (parameter.key(params[name]) for name, parameter in spec.parameters.items())
    return "-".join([spec.prefix, *(part for part in parts if part)])


def fit_family(
    family: str,
    params: Mapping[str, Any],
    statistics: TrainStatistics,
    codes: np.ndarray,
    lengths: np.ndarray,
) -> TrackScorer:
    """The family fitted on the training playlists: `codes` (words,) their track indices into
    `statistics.tracks` one after another, `lengths` (playlists,) their lengths."""
    return FAMILIES[family].fit(dict(params), statistics, codes, lengths)
