"""Word2Vec's parameters a config may set, with gensim's defaults, the rules they must keep
together, and the config key they make."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from recsys_assets.core.data.corpus import MAX_WINDOW
from recsys_assets.core.models.config import MAX_KEY_LENGTH
from recsys_assets.core.models.parameters import ConfigError, Parameter


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value).replace("+", "") if isinstance(value, float) else str(value)


def _parameter(
    kind: type, default: Any, abbreviation: str, doc: str, *bounds: float, **options: Any
) -> Parameter:
    return Parameter(
        kind,
        default,
        lambda value: f"{abbreviation}{_value_text(value)}",
        doc,
        *bounds,
        **options,
    )


WORD2VEC_PARAMETERS: dict[str, Parameter] = {
    "vector_size": _parameter(int, 100, "dim", "dimensions of the track vectors", 1, 4096),
    "window": _parameter(int, 5, "win", "tracks on each side that count as context", 1, MAX_WINDOW),
    "min_count": _parameter(int, 5, "mc", "plays a track needs to get a vector", 1, 1_000_000_000),
    "epochs": _parameter(int, 5, "ep", "passes over the corpus", 1, 1000),
    "sg": _parameter(int, 0, "sg", "1: skip-gram, 0: CBOW", 0, 1),
    "hs": _parameter(int, 0, "hs", "1: hierarchical softmax", 0, 1),
    "negative": _parameter(int, 5, "neg", "negative samples per context (0 needs `hs = 1`)", 0, 100),
    "ns_exponent": _parameter(float, 0.75, "ns", "exponent of the negative-sampling distribution", -10, 10),
    "cbow_mean": _parameter(int, 1, "cbowmean", "1: CBOW averages its context, 0: sums it", 0, 1),
    "alpha": _parameter(float, 0.025, "alpha", "initial learning rate", 0, 1, minimum_excluded=True),
    "min_alpha": _parameter(float, 0.0001, "minalpha", "final learning rate (at most `alpha`)", 0, 1),
    "sample": _parameter(float, 0.001, "sample", "down-sampling threshold of frequent tracks", 0, 1),
    "max_vocab_size": _parameter(
        int, None, "maxvocab", "vocabulary cap while counting", 1, 2**31 - 1, optional=True
    ),
    "max_final_vocab": _parameter(
        int, None, "maxfinalvocab", "vocabulary cap after counting", 1, 2**31 - 1, optional=True
    ),
    "sorted_vocab": _parameter(int, 1, "sortedvocab", "1: sort the vocabulary by plays", 0, 1),
    "batch_words": _parameter(int, 10_000, "batch", "words per training batch", 1, 10_000),
    "shrink_windows": _parameter(bool, True, "shrink", "draw each context's width at random up to `window`"),
}
"""Every parameter a config may set, with gensim's default and its bounds: finite, and small
enough to train in bounded time and memory (gensim's C loop handles at most 10,000 words per
batch). A test checks the defaults against gensim's own signature."""
WORD2VEC_DEFAULTS: dict[str, Any] = {
    name: parameter.default for name, parameter in WORD2VEC_PARAMETERS.items()
}
"""gensim's default of every parameter, for a config that leaves one unset."""
PATIENCE = "patience"
CONFIG_PARAMETERS: dict[str, Parameter] = {
    **WORD2VEC_PARAMETERS,
    PATIENCE: _parameter(
        int,
        4,
        "pat",
        "epochs without a better learning-curve point before training stops and keeps the best"
        " epoch's vectors (0: trains every epoch and keeps the last, as the tutorial flow)",
        0,
        1000,
    ),
}
"""What a Word2Vec config may set: gensim's parameters and how long training goes on without
getting better."""
UNKNOWN_PARAMETER_HINT = " (seed and workers are set by run config, not per config)"


def gensim_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a config that gensim's Word2Vec takes."""
    return {name: value for name, value in params.items() if name in WORD2VEC_PARAMETERS}


def patience(params: Mapping[str, Any]) -> int:
    """The config's patience in epochs (0: none)."""
    return int(params.get(PATIENCE, CONFIG_PARAMETERS[PATIENCE].default))


def check_combination(where: str, params: Mapping[str, Any]) -> None:
    """Parameters that are valid alone but cannot train together: ConfigError naming `where`."""
    value = {**WORD2VEC_DEFAULTS, **params}
    if value["negative"] == 0 and value["hs"] == 0:
        raise ConfigError(f"{where}: negative = 0 needs hs = 1, else nothing trains the vectors")
    if value["min_alpha"] > value["alpha"]:
        raise ConfigError(f"{where}: min_alpha {value['min_alpha']} must not exceed alpha {value['alpha']}")


def config_key(params: Mapping[str, Any]) -> str:
    """A stable, readable, valid key for a config: the parameters it sets by short name, sorted;
    a key longer than allowed keeps its start and ends in a hash of the whole."""
    parts = sorted(CONFIG_PARAMETERS[name].key(value) for name, value in params.items())
    key = "-".join(parts) if parts else "defaults"
    if len(key) > MAX_KEY_LENGTH:
        key = f"{key[: MAX_KEY_LENGTH - 13]}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return key
