"""The hyperparameter search space: a TOML file of Word2Vec configs, validated before training."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SearchSpaceError(ValueError):
    """A search-space file that cannot be used as written."""


@dataclass(frozen=True)
class Parameter:
    """One Word2Vec parameter a config may set: its type, short name for keys and valid range."""

    kind: type
    abbreviation: str
    minimum: float | None = None
    maximum: float | None = None


WORD2VEC_PARAMETERS: dict[str, Parameter] = {
    "vector_size": Parameter(int, "dim", 1),
    "window": Parameter(int, "win", 1),
    "min_count": Parameter(int, "mc", 1),
    "epochs": Parameter(int, "ep", 1),
    "sg": Parameter(int, "sg", 0, 1),
    "hs": Parameter(int, "hs", 0, 1),
    "negative": Parameter(int, "neg", 0),
    "ns_exponent": Parameter(float, "ns"),
    "cbow_mean": Parameter(int, "cbowmean", 0, 1),
    "alpha": Parameter(float, "alpha", 0),
    "min_alpha": Parameter(float, "minalpha", 0),
    "sample": Parameter(float, "sample", 0),
    "max_vocab_size": Parameter(int, "maxvocab", 1),
    "max_final_vocab": Parameter(int, "maxfinalvocab", 1),
    "sorted_vocab": Parameter(int, "sortedvocab", 0, 1),
    "batch_words": Parameter(int, "batch", 1),
    "shrink_windows": Parameter(bool, "shrink"),
}

_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,99}$")


@dataclass(frozen=True)
class ModelConfig:
    """One Word2Vec config: its partition key and the parameters passed to gensim."""

    key: str
    params: dict[str, Any]


def config_key(params: Mapping[str, Any]) -> str:
    """A stable, readable key for a config: its parameters by short name, sorted."""
    parts = sorted(
        f"{WORD2VEC_PARAMETERS[name].abbreviation}{_format_value(value)}" for name, value in params.items()
    )
    return "-".join(parts) if parts else "defaults"


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


def _check_parameter(where: str, name: str, value: Any) -> Any:
    spec = WORD2VEC_PARAMETERS.get(name)
    if spec is None:
        allowed = ", ".join(sorted(WORD2VEC_PARAMETERS))
        raise SearchSpaceError(
            f"{where}: unknown Word2Vec parameter {name!r}; expected one of: {allowed}"
            " (seed and workers are set by run config, not per config)"
        )
    if spec.kind is bool:
        ok = isinstance(value, bool)
    elif spec.kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    if not ok:
        raise SearchSpaceError(
            f"{where}: parameter {name!r} must be {spec.kind.__name__}, got {value!r}"
            f" ({type(value).__name__})"
        )
    if spec.minimum is not None and value < spec.minimum:
        raise SearchSpaceError(f"{where}: parameter {name!r} must be >= {spec.minimum}, got {value!r}")
    if spec.maximum is not None and value > spec.maximum:
        raise SearchSpaceError(f"{where}: parameter {name!r} must be <= {spec.maximum}, got {value!r}")
    return value


def parse_search_space(document: Mapping[str, Any], source: str) -> list[ModelConfig]:
    """Validated configs from a parsed search-space document; `source` names it in errors."""
    unknown = set(document) - {"config"}
    if unknown:
        raise SearchSpaceError(
            f"{source}: unknown top-level entries {sorted(unknown)}; expected only [[config]] tables"
        )
    tables = document.get("config")
    if not isinstance(tables, list) or not tables:
        raise SearchSpaceError(f"{source}: expected at least one [[config]] table")
    configs: list[ModelConfig] = []
    seen: dict[str, int] = {}
    for number, table in enumerate(tables, start=1):
        where = f"{source}, config #{number}"
        params = {
            name: _check_parameter(where, name, value) for name, value in table.items() if name != "name"
        }
        key = table.get("name", config_key(params))
        if not isinstance(key, str) or not _KEY_PATTERN.match(key):
            raise SearchSpaceError(
                f"{where}: name {key!r} must be 1-100 characters of letters, digits, '.', '_', '=' or '-'"
            )
        if key in seen:
            raise SearchSpaceError(f"{where}: key {key!r} is already used by config #{seen[key]}")
        seen[key] = number
        configs.append(ModelConfig(key=key, params=params))
    return configs


def load_search_space(path: Path) -> list[ModelConfig]:
    """Validated configs from a search-space TOML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SearchSpaceError(f"{path}: search-space file not found") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SearchSpaceError(f"{path}: not valid TOML: {error}") from None
    return parse_search_space(document, str(path))


def find_config(configs: list[ModelConfig], key: str, source: str) -> ModelConfig:
    """The config with partition key `key`, or an error listing the keys `source` defines."""
    for config in configs:
        if config.key == key:
            return config
    known = ", ".join(config.key for config in configs)
    raise SearchSpaceError(f"{source}: no config has key {key!r}; the search space defines: {known}")


def partition_changes(registered: set[str], keys: list[str]) -> tuple[list[str], list[str]]:
    """The config keys to add and to remove so that `registered` becomes `keys`."""
    return [key for key in keys if key not in registered], sorted(registered - set(keys))
