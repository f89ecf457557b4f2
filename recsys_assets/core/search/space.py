"""The search-space file: fixed configs of every family and the optional [search] plan, validated
before training."""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys_assets.core.models.config import ModelConfig, is_valid_config_key
from recsys_assets.core.models.families import (
    FAMILIES,
    FamilyConfigError,
    check_family_parameter,
    family_key,
    family_params,
)
from recsys_assets.core.models.word2vec.parameters import (
    WORD2VEC_DEFAULTS,
    WORD2VEC_PARAMETERS,
    config_key,
)
from recsys_assets.core.storage.files import check_regular_file
from recsys_assets.core.storage.fingerprint import bytes_fingerprint


class SearchSpaceError(ValueError):
    """A search-space file that cannot be used as written."""


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
    if isinstance(value, float) and not math.isfinite(value):
        raise SearchSpaceError(f"{where}: parameter {name!r} must be a finite number, got {value!r}")
    if spec.minimum is not None and spec.minimum_excluded and value <= spec.minimum:
        raise SearchSpaceError(f"{where}: parameter {name!r} must be > {spec.minimum}, got {value!r}")
    if spec.minimum is not None and value < spec.minimum:
        raise SearchSpaceError(f"{where}: parameter {name!r} must be >= {spec.minimum}, got {value!r}")
    if spec.maximum is not None and value > spec.maximum:
        raise SearchSpaceError(f"{where}: parameter {name!r} must be <= {spec.maximum}, got {value!r}")
    return value


def check_combination(where: str, params: Mapping[str, Any]) -> None:
    """Parameters that are valid alone but cannot train together."""
    value = {**WORD2VEC_DEFAULTS, **params}
    if value["negative"] == 0 and value["hs"] == 0:
        raise SearchSpaceError(f"{where}: negative = 0 needs hs = 1, else nothing trains the vectors")
    if value["min_alpha"] > value["alpha"]:
        raise SearchSpaceError(
            f"{where}: min_alpha {value['min_alpha']} must not exceed alpha {value['alpha']}"
        )


def parse_search_space(document: Mapping[str, Any], source: str) -> list[ModelConfig]:
    """Validated fixed configs from a parsed search-space document; `source` names it in errors."""
    unknown = set(document) - {"config", "search"}
    if unknown:
        raise SearchSpaceError(
            f"{source}: unknown top-level entries {sorted(unknown)}; expected [[config]] tables and"
            " an optional [search] table"
        )
    tables = document.get("config", [])
    if not isinstance(tables, list) or not (tables or "search" in document):
        raise SearchSpaceError(f"{source}: expected at least one [[config]] table or a [search] table")
    configs: list[ModelConfig] = []
    seen: dict[str, int] = {}
    for number, table in enumerate(tables, start=1):
        where = f"{source}, config #{number}"
        family = table.get("model", "word2vec")
        given = {name: value for name, value in table.items() if name not in ("name", "model")}
        if family == "word2vec":
            params = {name: _check_parameter(where, name, value) for name, value in given.items()}
            check_combination(where, params)
            default_key = config_key(params)
        else:
            try:
                params = family_params(where, family, given)
            except FamilyConfigError as error:
                raise SearchSpaceError(str(error)) from None
            default_key = family_key(family, params)
        key = table.get("name", default_key)
        if not is_valid_config_key(key):
            raise SearchSpaceError(
                f"{where}: name {key!r} must be 1-100 characters of letters, digits, '.', '_', '=' or '-'"
            )
        if key in seen:
            raise SearchSpaceError(f"{where}: key {key!r} is already used by config #{seen[key]}")
        seen[key] = number
        configs.append(ModelConfig(key=key, params=params, family=family))
    return configs


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

    `params` is the Word2Vec space ([search.params]); `families` the space of each other family
    searched ([search.rules], [search.session_knn], [search.hybrid]); a trial first picks a
    family, then that family's parameters.
    """

    params: ParameterSpace
    trials: int | None = None
    time_budget_minutes: float | None = None
    pruner: str = "median"
    seed: int = 42
    families: dict[str, ParameterSpace] = field(default_factory=dict, repr=False)

    @property
    def models(self) -> tuple[str, ...]:
        """The families a trial picks from, Word2Vec first when [search.params] is given."""
        return (("word2vec",) if self.params else ()) + tuple(self.families)

    def space_of(self, family: str) -> ParameterSpace:
        """The parameters the search tries for `family`."""
        return self.params if family == "word2vec" else self.families[family]

    @property
    def study_name(self) -> str:
        """A name that changes whenever the plan does, so a changed plan starts a new study (a
        Word2Vec-only plan keeps the name it had before other families could be searched)."""
        text = repr(self) + (repr(self.families) if self.families else "")
        return "recsys-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _check_family_value(family: str):
    def check(where: str, name: str, value: Any) -> Any:
        try:
            return check_family_parameter(where, family, name, value)
        except FamilyConfigError as error:
            raise SearchSpaceError(str(error)) from None

    return check


def _parse_param(where: str, name: str, spec: Any, family: str = "word2vec") -> Choices | Range:
    if family == "word2vec":
        check, kind = _check_parameter, WORD2VEC_PARAMETERS[name].kind
    else:
        parameter = FAMILIES[family].parameters[name]
        check, kind = _check_family_value(family), str if parameter.choices else type(parameter.default)
    kind_name = "true or false" if kind is bool else "a named choice"
    if not isinstance(spec, dict) or not ({"choices"} <= set(spec) or {"low", "high"} <= set(spec)):
        raise SearchSpaceError(
            f"{where}: {name} must be {{ choices = [...] }} or {{ low = ..., high = ..., log = false }}"
        )
    if "choices" in spec:
        values = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(values, list) or not values:
            raise SearchSpaceError(f"{where}: {name}.choices must be a non-empty list and stand alone")
        return Choices(tuple(check(where, name, value) for value in values))
    if set(spec) - {"low", "high", "log"}:
        raise SearchSpaceError(f"{where}: {name} takes only low, high and log, got {sorted(spec)}")
    if kind is not int and kind is not float:
        raise SearchSpaceError(f"{where}: {name} is {kind_name}: give choices")
    low, high = (check(where, name, spec[bound]) for bound in ("low", "high"))
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SearchSpaceError(f"{where}: {name}.log must be true or false")
    if not low < high:
        raise SearchSpaceError(f"{where}: {name} needs low < high, got {low} and {high}")
    if log and low <= 0:
        raise SearchSpaceError(f"{where}: {name} on a log scale needs low > 0")
    return Range(low, high, log, integer=kind is int)


def _parse_family_space(where: str, family: str, table: Any) -> ParameterSpace:
    if not isinstance(table, dict):
        raise SearchSpaceError(f"{where}: expected a table of {family} parameters")
    known = FAMILIES[family].parameters
    for name in table:
        if name not in known:
            raise SearchSpaceError(
                f"{where}: unknown {family} parameter {name!r}; expected one of: {', '.join(sorted(known))}"
            )
    return {name: _parse_param(where, name, spec, family) for name, spec in table.items()}


def parse_search_plan(document: Mapping[str, Any], source: str) -> SearchPlan | None:
    """The validated [search] table of a parsed search-space document, if it has one."""
    table = document.get("search")
    if table is None:
        return None
    where = f"{source}, [search]"
    if not isinstance(table, dict):
        raise SearchSpaceError(f"{where}: expected a table")
    unknown = set(table) - {"trials", "time_budget_minutes", "pruner", "seed", "params", *FAMILIES}
    if unknown:
        raise SearchSpaceError(
            f"{where}: unknown entries {sorted(unknown)}; expected trials, time_budget_minutes, pruner,"
            f" seed, params (Word2Vec) and tables for {', '.join(FAMILIES)}"
        )
    trials, minutes = table.get("trials"), table.get("time_budget_minutes")
    if trials is None and minutes is None:
        raise SearchSpaceError(f"{where}: give a budget: trials, time_budget_minutes or both")
    if trials is not None and not (
        isinstance(trials, int) and not isinstance(trials, bool) and 1 <= trials <= 1000
    ):
        raise SearchSpaceError(f"{where}: trials must be a whole number from 1 to 1000, got {trials!r}")
    if minutes is not None and not (
        isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and 0 < minutes <= 10_080
    ):
        raise SearchSpaceError(f"{where}: time_budget_minutes must be in (0, 10080], got {minutes!r}")
    pruner = table.get("pruner", "median")
    if pruner not in PRUNERS:
        raise SearchSpaceError(f"{where}: pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    seed = table.get("seed", 42)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEARCH_SEED:
        raise SearchSpaceError(
            f"{where}: seed must be a whole number from 0 to {MAX_SEARCH_SEED}, got {seed!r}"
        )
    families = {
        family: _parse_family_space(f"{where}.{family}", family, table[family])
        for family in FAMILIES
        if family in table
    }
    params = table.get("params", {} if families else None)
    if not isinstance(params, dict) or not (params or families):
        raise SearchSpaceError(
            f"{where}: expected a [search.params] table of at least one Word2Vec parameter, or a"
            f" table for another family ({', '.join(f'[search.{family}]' for family in FAMILIES)})"
        )
    parsed = {}
    for name, spec in params.items():
        if name not in WORD2VEC_PARAMETERS:
            _check_parameter(f"{where}.params", name, None)
        parsed[name] = _parse_param(f"{where}.params", name, spec)
    return SearchPlan(
        params=parsed,
        trials=trials,
        time_budget_minutes=float(minutes) if minutes is not None else None,
        pruner=pruner,
        seed=seed,
        families=families,
    )


def _read_document(path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        check_regular_file(path, "search-space file")
        data = path.read_bytes()
    except OSError as error:
        raise SearchSpaceError(str(error)) from None
    try:
        return data, tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise SearchSpaceError(f"{path}: not UTF-8 text: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise SearchSpaceError(f"{path}: not valid TOML: {error}") from None


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
        raise SearchSpaceError(f"{source}: not valid TOML: {error}") from None


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
    raise SearchSpaceError(f"{source}: no config has key {key!r}; the search space defines: {known}")


def partition_changes(registered: set[str], keys: list[str]) -> tuple[list[str], list[str]]:
    """The config keys to add and to remove so that `registered` becomes `keys`."""
    return [key for key in keys if key not in registered], sorted(registered - set(keys))
