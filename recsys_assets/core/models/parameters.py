"""A family's parameters: one `Parameter` type for every family, checked the same way, and the
one error a config that cannot be used as written raises."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A config, or a search-space file, that cannot be used as written."""


@dataclass(frozen=True)
class Parameter:
    """One parameter a config may set: its type and default, its bounds or named choices, how
    it reads in a config key, and what it does (for the docs' tables).

    `kind` is int, float, bool, str (a named choice) or list (of distinct names, as many as
    the bounds say); an int is accepted where a float is expected. `minimum_excluded` makes the
    lower bound exclusive; `optional` accepts None (the default of a parameter left unset).
    """

    kind: type
    default: Any
    key: Callable[[Any], str]
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    minimum_excluded: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False

    def check(self, what: str, value: Any) -> Any:
        """`value` checked (an int where a float is expected becomes a float); ConfigError
        starting with `what` (which names the config and the parameter) otherwise."""
        if value is None and self.optional:
            return None
        if self.kind is list:
            return self._checked_names(what, value)
        if self.choices:
            if value not in self.choices:
                raise ConfigError(f"{what} must be one of {', '.join(self.choices)}, got {value!r}")
            return value
        if self.kind is bool:
            accepted = isinstance(value, bool)
        elif self.kind is int:
            accepted = isinstance(value, int) and not isinstance(value, bool)
        else:
            accepted = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not accepted:
            raise ConfigError(f"{what} must be {self.kind.__name__}, got {value!r} ({type(value).__name__})")
        if self.kind is bool:
            return value
        value = self.kind(value)
        if not math.isfinite(value):
            raise ConfigError(f"{what} must be a finite number, got {value!r}")
        if self.minimum is not None and self.minimum_excluded and value <= self.minimum:
            raise ConfigError(f"{what} must be > {_number(self.minimum)}, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{what} must be >= {_number(self.minimum)}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"{what} must be <= {_number(self.maximum)}, got {value!r}")
        return value

    def _checked_names(self, what: str, value: Any) -> list[str]:
        names = value if isinstance(value, list) else None
        if names is None or not all(isinstance(name, str) and name for name in names):
            raise ConfigError(f"{what} must be a list of names, got {value!r}")
        if len(set(names)) != len(names):
            raise ConfigError(f"{what} must name each one once, got {value!r}")
        if self.minimum is not None and len(names) < self.minimum:
            raise ConfigError(f"{what} must name at least {_number(self.minimum)}, got {value!r}")
        if self.maximum is not None and len(names) > self.maximum:
            raise ConfigError(f"{what} must name at most {_number(self.maximum)}, got {value!r}")
        return list(names)

    @property
    def searchable_range(self) -> bool:
        """Whether the search may draw it from a range (numbers), not only from listed choices."""
        return not self.choices and self.kind in (int, float)

    @property
    def range_text(self) -> str:
        """Its valid values as the docs' tables show them."""
        if self.choices:
            return ", ".join(f"`{choice}`" for choice in self.choices)
        if self.kind is bool:
            return "true, false"
        if self.kind is list:
            return f"{_number(self.minimum)} to {_number(self.maximum)} config keys"
        if self.minimum is None and self.maximum is None:
            return "any"
        low = "" if self.minimum is None else _number(self.minimum, ",")
        high = "" if self.maximum is None else _number(self.maximum, ",")
        if self.minimum_excluded:
            return f"({low}, {high}]"
        return f"{low} to {high}"


def _number(value: float, grouping: str = "") -> str:
    return f"{int(value):{grouping}d}" if float(value).is_integer() else f"{value:{grouping}g}"


def parameter_values(
    where: str,
    label: str,
    parameters: Mapping[str, Parameter],
    given: Mapping[str, Any],
    with_defaults: bool,
    unknown_hint: str = "",
) -> dict[str, Any]:
    """The `given` values checked, completed with the defaults in the parameters' order when
    `with_defaults`, else in the order given; ConfigError naming `where`, the family's `label`
    and the parameter otherwise (an unknown parameter's error ends with `unknown_hint`)."""
    unknown = [name for name in given if name not in parameters]
    if unknown:
        raise ConfigError(
            f"{where}: unknown {label} parameter {unknown[0]!r}; expected one of:"
            f" {', '.join(sorted(parameters))}{unknown_hint}"
        )
    names = parameters if with_defaults else given
    return {
        name: parameters[name].check(
            f"{where}: {label} parameter {name!r}", given.get(name, parameters[name].default)
        )
        for name in names
    }
