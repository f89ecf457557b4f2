"""Word2Vec's parameters a config may set, gensim's defaults, and the config key they make."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recsys_assets.core.data.corpus import MAX_WINDOW
from recsys_assets.core.models.config import MAX_KEY_LENGTH


@dataclass(frozen=True)
class Parameter:
    """One Word2Vec parameter a config may set: its type, short name for keys and valid range."""

    kind: type
    abbreviation: str
    minimum: float | None = None
    maximum: float | None = None
    minimum_excluded: bool = False


WORD2VEC_PARAMETERS: dict[str, Parameter] = {
    "vector_size": Parameter(int, "dim", 1, 4096),
    "window": Parameter(int, "win", 1, MAX_WINDOW),
    "min_count": Parameter(int, "mc", 1, 1_000_000_000),
    "epochs": Parameter(int, "ep", 1, 1000),
    "sg": Parameter(int, "sg", 0, 1),
    "hs": Parameter(int, "hs", 0, 1),
    "negative": Parameter(int, "neg", 0, 100),
    "ns_exponent": Parameter(float, "ns", -10, 10),
    "cbow_mean": Parameter(int, "cbowmean", 0, 1),
    "alpha": Parameter(float, "alpha", 0, 1, minimum_excluded=True),
    "min_alpha": Parameter(float, "minalpha", 0, 1),
    "sample": Parameter(float, "sample", 0, 1),
    "max_vocab_size": Parameter(int, "maxvocab", 1, 2**31 - 1),
    "max_final_vocab": Parameter(int, "maxfinalvocab", 1, 2**31 - 1),
    "sorted_vocab": Parameter(int, "sortedvocab", 0, 1),
    "batch_words": Parameter(int, "batch", 1, 10_000),
    "shrink_windows": Parameter(bool, "shrink"),
}
"""Every parameter a config may set, with its bounds: finite, and small enough to train in
bounded time and memory (gensim's C loop handles at most 10,000 words per batch)."""


WORD2VEC_DEFAULTS: dict[str, Any] = {
    "vector_size": 100,
    "window": 5,
    "min_count": 5,
    "epochs": 5,
    "sg": 0,
    "hs": 0,
    "negative": 5,
    "ns_exponent": 0.75,
    "cbow_mean": 1,
    "alpha": 0.025,
    "min_alpha": 0.0001,
    "sample": 0.001,
    "max_vocab_size": None,
    "max_final_vocab": None,
    "sorted_vocab": 1,
    "batch_words": 10_000,
    "shrink_windows": True,
}
"""gensim's Word2Vec default of every parameter, for a config that leaves one unset (a test
checks them against gensim's own signature)."""


def config_key(params: Mapping[str, Any]) -> str:
    """A stable, readable, valid key for a config: its parameters by short name, sorted; a key
    longer than allowed keeps its start and ends in a hash of the whole."""
    parts = sorted(
        f"{WORD2VEC_PARAMETERS[name].abbreviation}{_format_value(value)}" for name, value in params.items()
    )
    key = "-".join(parts) if parts else "defaults"
    if len(key) > MAX_KEY_LENGTH:
        key = f"{key[: MAX_KEY_LENGTH - 13]}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return key


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value).replace("+", "") if isinstance(value, float) else str(value)
