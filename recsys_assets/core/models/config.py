"""A model config: its partition key, its family and its parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_KEY_LENGTH = 100


_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,99}$")


@dataclass(frozen=True)
class ModelConfig:
    """One config: its partition key, its family's name in the registry and its parameters."""

    key: str
    params: dict[str, Any]
    family: str


def is_valid_config_key(key: object) -> bool:
    """Whether `key` can name a config partition (and so a model file): 1-100 letters, digits,
    '.', '_', '=' or '-', starting with a letter or digit."""
    return isinstance(key, str) and bool(_KEY_PATTERN.match(key))
