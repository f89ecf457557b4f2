"""The sequential rules and session kNN parts of a model made of both (the hybrid, and the
re-ranker's candidate generators): the config parameters that set them, and the parts built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.family import Family
from recsys_assets.core.models.parameters import ConfigError, Parameter
from recsys_assets.core.models.rules.family import FAMILY as RULES
from recsys_assets.core.models.rules.family import build_rules
from recsys_assets.core.models.session_knn.family import FAMILY as SESSION_KNN
from recsys_assets.core.models.session_knn.family import build_session_knn
from recsys_assets.core.models.sparse import TrackScorer

PART_PREFIXES: dict[str, Family] = {"rules": RULES, "knn": SESSION_KNN}
"""The prefix a config gives each part's parameters (`rules_steps`, `knn_k`), and its family."""
ALWAYS_KEYED = ("rules_steps", "rules_last_n", "knn_k")
"""Part parameters a config key always names (as hybrid keys have from the start); the others
are named where they differ from their family's default."""


def part_parameters(names: Mapping[str, Any]) -> dict[str, Parameter]:
    """The config parameters `<prefix>_<name>` of each `names` key (e.g. `rules_steps`), as
    the part's family defines them, the default the given value where one is given (not None);
    keyed as `ALWAYS_KEYED` says."""
    parameters = {}
    for full_name, default in names.items():
        prefix, name = full_name.split("_", 1)
        family = PART_PREFIXES[prefix]
        parameter = family.parameters[name]
        parameters[full_name] = replace(
            parameter,
            doc=f"the {family.label} part's `{name}`",
            default=parameter.default if default is None else default,
            key=parameter.key if full_name in ALWAYS_KEYED else _unless_default(parameter),
        )
    return parameters


def part_params(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each part family's params, by family name: those `params` set by prefix, the rest at
    the family's defaults."""
    return {
        family.name: {
            name: params.get(f"{prefix}_{name}", parameter.default)
            for name, parameter in family.parameters.items()
        }
        for prefix, family in PART_PREFIXES.items()
    }


def check_parts_together(where: str, params: Mapping[str, Any]) -> None:
    """Each part's family's rules between its parameters, for the parameters `params` sets; the
    error names the part's parameters by their prefix."""
    parts = part_params(params)
    for prefix, family in PART_PREFIXES.items():
        if family.check_together is None:
            continue
        try:
            family.check_together(where, parts[family.name])
        except ConfigError as error:
            said = str(error).removeprefix(f"{where}: ")
            raise ConfigError(
                f"{where}: its {family.label} part (the {prefix}_ parameters): {said}"
            ) from None


def build_parts(
    params: Mapping[str, Any], statistics: TrainStatistics, codes: np.ndarray, lengths: np.ndarray
) -> tuple[TrackScorer, TrackScorer]:
    """The rules and session kNN parts `params` set, fitted on the training playlists (`codes`
    (words,) and `lengths` (playlists,)) over the tracks of `statistics`."""
    parts = part_params(params)
    return (
        build_rules(parts[RULES.name], statistics, codes, lengths),
        build_session_knn(parts[SESSION_KNN.name], statistics, codes, lengths),
    )


def _unless_default(parameter: Parameter):
    """The parameter's key part where a value differs from its default, else none."""
    return lambda value: "" if value == parameter.default else parameter.key(value)
