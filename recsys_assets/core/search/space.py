"""The search-space file: fixed configs of every family and the optional [search] plan, validated
before training."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys_assets.core.models.config import ModelConfig, is_valid_config_key
from recsys_assets.core.models.family import Family
from recsys_assets.core.models.parameters import ConfigError
from recsys_assets.core.models.registry import DEFAULT_FAMILY, FAMILIES, family_named, make_config
from recsys_assets.core.storage.files import check_regular_file
from recsys_assets.core.storage.fingerprint import bytes_fingerprint


def parse_search_space(document: Mapping[str, Any], source: str) -> list[ModelConfig]:
    """Validated fixed configs from a parsed search-space document; `source` names it in errors."""
    unknown = set(document) - {"config", "search"}
    if unknown:
        raise ConfigError(
            f"{source}: unknown top-level entries {sorted(unknown)}; expected [[config]] tables and"
            " an optional [search] table"
        )
    tables = document.get("config", [])
    if not isinstance(tables, list) or not (tables or "search" in document):
        raise ConfigError(f"{source}: expected at least one [[config]] table or a [search] table")
    configs: list[ModelConfig] = []
    seen: dict[str, int] = {}
    for number, table in enumerate(tables, start=1):
        where = f"{source}, config #{number}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table of parameters, got {table!r}")
        family = family_named(where, table.get("model", DEFAULT_FAMILY)).name
        given = {name: value for name, value in table.items() if name not in ("name", "model")}
        config = make_config(where, family, given, table.get("name"))
        key = config.key
        if not is_valid_config_key(key):
            raise ConfigError(
                f"{where}: name {key!r} must be 1-100 characters of letters, digits, '.', '_', '=' or '-'"
            )
        if key in seen:
            raise ConfigError(f"{where}: key {key!r} is already used by config #{seen[key]}")
        seen[key] = number
        configs.append(config)
    _check_named_parts(source, configs)
    return configs


def _check_named_parts(source: str, configs: list[ModelConfig]) -> None:
    """Refuse a config whose `parts` name no other config of the file, or one that has parts."""
    by_key = {config.key: number for number, config in enumerate(configs, start=1)}
    for number, config in enumerate(configs, start=1):
        for part in config.params.get("parts") or ():
            where = f"{source}, config #{number}: part {part!r}"
            if part not in by_key or part == config.key:
                known = ", ".join(key for key in by_key if key != config.key)
                raise ConfigError(f"{where} is not another config of this file; expected one of: {known}")
            if configs[by_key[part] - 1].params.get("parts"):
                raise ConfigError(f"{where} fuses named configs itself; name the configs it fuses instead")


@dataclass(frozen=True)
class Choices:
    """A parameter the search picks from a list of values."""

    values: tuple[Any, ...]


@dataclass(frozen=True)
class Range:
    """A parameter the search draws from [low, high], on a log scale if `log`."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


MAX_SEARCH_SEED = 2**31 - 1
"""The sampler's seed is this plus the trials run, which must stay below 2**32."""


PRUNERS = ("median", "none")


ParameterSpace = dict[str, "Choices | Range"]
"""What a search may try for each parameter of one family, by parameter name."""


@dataclass(frozen=True)
class SearchPlan:
    """The optional [search] table: what the adaptive search may try, and its budget.

    `spaces` holds the space of each family searched, by family name, in the registry's order;
    a trial first picks a family, then that family's parameters.
    """

    spaces: dict[str, ParameterSpace]
    trials: int | None = None
    time_budget_minutes: float | None = None
    pruner: str = "median"
    seed: int = 42

    @property
    def models(self) -> tuple[str, ...]:
        """The families a trial picks from."""
        return tuple(self.spaces)

    def space_of(self, family: str) -> ParameterSpace:
        """The parameters the search tries for `family`."""
        return self.spaces[family]

    @property
    def study_name(self) -> str:
        """A name that changes whenever the plan does, so a changed plan starts a new study; the
        text hashed is the one plans were named by before every family had a space here (the
        default family's space as `params`, the others after it), so existing studies keep
        their names."""
        default = self.spaces.get(DEFAULT_FAMILY, {})
        others = {family: space for family, space in self.spaces.items() if family != DEFAULT_FAMILY}
        text = (
            f"SearchPlan(params={default!r}, trials={self.trials!r},"
            f" time_budget_minutes={self.time_budget_minutes!r}, pruner={self.pruner!r}, seed={self.seed!r})"
        )
        return "recsys-" + hashlib.sha256((text + (repr(others) if others else "")).encode()).hexdigest()[:12]


def _parse_param(where: str, family: Family, name: str, spec: Any) -> Choices | Range:
    parameter = family.parameters[name]

    def check(value: Any) -> Any:
        return parameter.check(f"{where}: {family.name} parameter {name!r}", value)

    if parameter.kind is list:
        raise ConfigError(f"{where}: {name} names configs; the search does not try it")
    if not isinstance(spec, dict) or not ({"choices"} <= set(spec) or {"low", "high"} <= set(spec)):
        raise ConfigError(
            f"{where}: {name} must be {{ choices = [...] }} or {{ low = ..., high = ..., log = false }}"
        )
    if "choices" in spec:
        values = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: {name}.choices must be a non-empty list and stand alone")
        return Choices(tuple(check(value) for value in values))
    if set(spec) - {"low", "high", "log"}:
        raise ConfigError(f"{where}: {name} takes only low, high and log, got {sorted(spec)}")
    if not parameter.searchable_range:
        what = "true or false" if parameter.kind is bool else "a named choice"
        raise ConfigError(f"{where}: {name} is {what}: give choices")
    low, high = check(spec["low"]), check(spec["high"])
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: {name}.log must be true or false")
    if low is None or high is None or not low < high:
        raise ConfigError(f"{where}: {name} needs low < high, got {low} and {high}")
    if log and low <= 0:
        raise ConfigError(f"{where}: {name} on a log scale needs low > 0")
    return Range(low, high, log, integer=parameter.kind is int)


def _parse_family_space(where: str, family: Family, table: Any) -> ParameterSpace:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of {family.name} parameters")
    for name in table:
        if name not in family.parameters:
            raise ConfigError(
                f"{where}: unknown {family.name} parameter {name!r}; expected one of:"
                f" {', '.join(sorted(family.parameters))}{family.unknown_parameter_hint}"
            )
    return {name: _parse_param(where, family, name, spec) for name, spec in table.items()}


def parse_search_plan(document: Mapping[str, Any], source: str) -> SearchPlan | None:
    """The validated [search] table of a parsed search-space document, if it has one."""
    table = document.get("search")
    if table is None:
        return None
    where = f"{source}, [search]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    tables = {family.search_table_name: family for family in FAMILIES.values()}
    unknown = set(table) - {"trials", "time_budget_minutes", "pruner", "seed", *tables}
    if unknown:
        raise ConfigError(
            f"{where}: unknown entries {sorted(unknown)}; expected trials, time_budget_minutes, pruner,"
            f" seed and a table per family searched: {', '.join(f'[search.{name}]' for name in tables)}"
        )
    trials, minutes = table.get("trials"), table.get("time_budget_minutes")
    if trials is None and minutes is None:
        raise ConfigError(f"{where}: give a budget: trials, time_budget_minutes or both")
    if trials is not None and not (
        isinstance(trials, int) and not isinstance(trials, bool) and 1 <= trials <= 1000
    ):
        raise ConfigError(f"{where}: trials must be a whole number from 1 to 1000, got {trials!r}")
    if minutes is not None and not (
        isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and 0 < minutes <= 10_080
    ):
        raise ConfigError(f"{where}: time_budget_minutes must be in (0, 10080], got {minutes!r}")
    pruner = table.get("pruner", "median")
    if pruner not in PRUNERS:
        raise ConfigError(f"{where}: pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    seed = table.get("seed", 42)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEARCH_SEED:
        raise ConfigError(f"{where}: seed must be a whole number from 0 to {MAX_SEARCH_SEED}, got {seed!r}")
    spaces = {
        family.name: _parse_family_space(f"{where}.{name}", family, table[name])
        for name, family in tables.items()
        if name in table
    }
    if not any(spaces.values()):
        raise ConfigError(
            f"{where}: expected a table of at least one parameter for a family searched:"
            f" {', '.join(f'[search.{name}]' for name in tables)}"
        )
    return SearchPlan(
        spaces={family: space for family, space in spaces.items() if space},
        trials=trials,
        time_budget_minutes=float(minutes) if minutes is not None else None,
        pruner=pruner,
        seed=seed,
    )


def _read_document(path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        check_regular_file(path, "search-space file")
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(str(error)) from None
    try:
        return data, tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


@dataclass(frozen=True)
class SearchSpaceFile:
    """A search-space file as it was read once: the fingerprint of those bytes, its validated
    fixed configs and its [search] plan."""

    fingerprint: str
    configs: list[ModelConfig]
    plan: SearchPlan | None
    text: str


def read_search_space(path: Path) -> SearchSpaceFile:
    """The search-space file read once: what a retrain trains is what it fingerprints."""
    data, document = _read_document(path)
    plan = parse_search_plan(document, str(path))
    configs = parse_search_space(document, str(path))
    return SearchSpaceFile(bytes_fingerprint(data), configs, plan, data.decode("utf-8"))


def parse_search_space_text(text: str, source: str) -> list[ModelConfig]:
    """Validated fixed configs of a search-space file's text, as recorded from `source`."""
    try:
        return parse_search_space(tomllib.loads(text), source)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None


def load_search_space(path: Path) -> list[ModelConfig]:
    """Validated fixed configs from a search-space TOML file (its [search] table checked too)."""
    return read_search_space(path).configs


def load_search_plan(path: Path) -> SearchPlan | None:
    """The validated [search] table of a search-space TOML file, if it has one."""
    return read_search_space(path).plan


def find_config(configs: list[ModelConfig], key: str, source: str) -> ModelConfig:
    """The config with partition key `key`, or an error listing the keys `source` defines."""
    for config in configs:
        if config.key == key:
            return config
    known = ", ".join(config.key for config in configs)
    raise ConfigError(f"{source}: no config has key {key!r}; the search space defines: {known}")


def partition_changes(registered: set[str], keys: list[str]) -> tuple[list[str], list[str]]:
    """The config keys to add and to remove so that `registered` becomes `keys`."""
    return [key for key in keys if key not in registered], sorted(registered - set(keys))
