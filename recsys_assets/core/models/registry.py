"""Every model family, by the name a config gives it (`model = ...`): search, storage, fitting,
the graph, the CLI and the docs' parameter tables find a family here and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

from recsys_assets.core.models.config import ModelConfig
from recsys_assets.core.models.family import Family
from recsys_assets.core.models.parameters import ConfigError, parameter_values

FAMILY_FOLDERS = (
    "word2vec",
    "rules",
    "session_knn",
    "hybrid",
    "reranker",
)
"""One line per family: its folder under core/models, whose `family.py` exports `FAMILY`. The
first is the family of a config that names none and of model files written before families."""
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (import_module(f"{__package__}.{folder}.family").FAMILY for folder in FAMILY_FOLDERS)
}
"""Every family by the name a config gives it, in the order of `FAMILY_FOLDERS`."""
DEFAULT_FAMILY = next(iter(FAMILIES))


def family_named(where: str, name: object) -> Family:
    """The family a config names; ConfigError naming `where` and the families otherwise."""
    if not isinstance(name, str) or name not in FAMILIES:
        raise ConfigError(f"{where}: unknown model {name!r}; expected one of: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def config_params(where: str, family: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """A config's parameters checked, and completed with the defaults where its family does;
    ConfigError naming `where` and the parameter otherwise."""
    spec = family_named(where, family)
    params = parameter_values(
        where, spec.name, spec.parameters, given, spec.fills_defaults, spec.unknown_parameter_hint
    )
    if spec.check_together is not None:
        spec.check_together(where, params)
    return params


def make_config(where: str, family: str, given: Mapping[str, Any], key: str | None = None) -> ModelConfig:
    """The config of `family` with the `given` parameters, keyed `key` or by its family."""
    params = config_params(where, family, given)
    return ModelConfig(key=key or FAMILIES[family].key(params), params=params, family=family)


def parameter_tables() -> str:
    """Every family's parameters as Markdown tables (type, valid values, default, meaning), as
    docs/configuration.md shows them."""
    sections = []
    for family in FAMILIES.values():
        rows = [
            f"| `{name}` | {parameter.kind.__name__} | {parameter.range_text} |"
            f" {'unset' if parameter.default is None else f'`{parameter.default!r}`'.replace(chr(39), '')} |"
            f" {parameter.doc} |"
            for name, parameter in family.parameters.items()
        ]
        sections.append(
            f'### `model = "{family.name}"`: {family.label}\n\n'
            "| parameter | type | values | default | what it does |\n| --- | --- | --- | --- | --- |\n"
            + "\n".join(rows)
        )
    return "\n\n".join(sections) + "\n"
