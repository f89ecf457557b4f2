"""Checks of what a model file holds before a model is built from it: each array's presence,
shape, dtype, range and finiteness, so a damaged file is refused by name instead of served with
wrong scores."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np


class DamagedModelFile(ValueError):
    """A model file that does not read whole, or holds what no model of ours writes."""


def array(arrays: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """The array `name`; DamagedModelFile when the file has none."""
    if name not in arrays:
        raise DamagedModelFile(f"the array {name!r} is missing")
    return arrays[name]


def vector(
    arrays: Mapping[str, np.ndarray],
    name: str,
    kind: str,
    length: int | None = None,
    low: float | None = None,
    high: float | None = None,
) -> np.ndarray:
    """The 1-D array `name` of dtype kind `kind` ("i" integers, "f" floats; integers are taken
    as floats), of `length` where given, every value within [`low`, `high`) where given."""
    values = array(arrays, name)
    allowed = "iu" if kind == "i" else "fiu"
    if values.ndim != 1 or values.dtype.kind not in allowed:
        expected = "integers" if kind == "i" else "numbers"
        raise DamagedModelFile(
            f"the array {name!r} is {values.dtype} of shape {values.shape}, expected a vector of {expected}"
        )
    if length is not None and len(values) != length:
        raise DamagedModelFile(f"the array {name!r} has {len(values)} values, expected {length}")
    if len(values) and low is not None and values.min() < low:
        raise DamagedModelFile(f"the array {name!r} holds {values.min()}, below its least value {low}")
    if len(values) and high is not None and values.max() >= high:
        raise DamagedModelFile(f"the array {name!r} holds {values.max()}, expected values below {high}")
    return values


def track_ids(values: Any, name: str, length: int | None = None, ascending: bool = True) -> np.ndarray:
    """`values` (read from JSON) as an object array of ids, checked to be distinct strings, in
    ascending order where `ascending` (lookups search them), `length` of them where given."""
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise DamagedModelFile(f"the array {name!r} does not hold a list of ids")
    ids = np.asarray(values, dtype=object)
    if length is not None and len(ids) != length:
        raise DamagedModelFile(f"the array {name!r} holds {len(ids)} ids, expected {length}")
    if ascending and len(ids) > 1 and not (ids[1:] > ids[:-1]).all():
        raise DamagedModelFile(f"the array {name!r} does not hold distinct ids in ascending order")
    if not ascending and len(set(values)) != len(values):
        raise DamagedModelFile(f"the array {name!r} repeats an id")
    return ids


def finite(arrays: Mapping[str, np.ndarray]) -> None:
    """DamagedModelFile naming the first float array that holds NaN or an infinity."""
    for name, values in arrays.items():
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            raise DamagedModelFile(f"the array {name!r} holds NaN or infinite values")


def entry(
    table: Mapping[str, Any],
    name: str,
    kind: type | tuple[type, ...],
    choices: Collection[Any] | None = None,
    low: float | None = None,
    where: str = "the model's layout",
) -> Any:
    """`table[name]` (of the file's part `where` names), checked to be of `kind` (a bool is
    neither an integer nor a number), one of `choices` and at least `low` where given."""
    if not isinstance(table, Mapping) or name not in table:
        raise DamagedModelFile(f"{where} has no {name!r}")
    value = table[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise DamagedModelFile(f"{where} has {name} = {value!r}, expected {_kind_name(kinds)}")
    if choices is not None and value not in choices:
        raise DamagedModelFile(
            f"{where} has {name} = {value!r}, expected one of {', '.join(map(repr, choices))}"
        )
    if low is not None and ((isinstance(value, float) and not np.isfinite(value)) or value < low):
        raise DamagedModelFile(f"{where} has {name} = {value!r}, expected at least {low}")
    return value


_KIND_NAMES = {int: "an integer", float: "a number", str: "text", list: "a list", dict: "a table"}


def _kind_name(kinds: tuple[type, ...]) -> str:
    return " or ".join(_KIND_NAMES.get(kind, kind.__name__) for kind in kinds)
