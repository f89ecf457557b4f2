"""The arrays a model file keeps of a family that scores tracks directly, and the model read back
from them: the training tracks with their plays, and the family's sparse matrix (rules: track by
track; session kNN: the training playlists by track, with their positions when it decays; the
hybrid: its parts and weights)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.hybrid.scorer import Hybrid
from recsys_assets.core.models.rules.scorer import SequentialRules
from recsys_assets.core.models.session_knn.scorer import SessionKnn
from recsys_assets.core.models.sparse import TrackScorer

_NO_TRANSITIONS = np.zeros(0, dtype=np.int64)


def _text(value: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def _read_text(array: np.ndarray) -> Any:
    return json.loads(array.tobytes().decode("utf-8"))


def _matrix_arrays(prefix: str, matrix: sp.csr_matrix, values: bool) -> dict[str, np.ndarray]:
    arrays = {
        f"{prefix}indptr": matrix.indptr.astype(np.int64),
        f"{prefix}indices": matrix.indices.astype(np.int32),
        f"{prefix}shape": np.asarray(matrix.shape, dtype=np.int64),
    }
    if values:
        arrays[f"{prefix}data"] = matrix.data.astype(np.float64)
    return arrays


def _matrix(prefix: str, arrays: Mapping[str, np.ndarray]) -> sp.csr_matrix:
    indices = arrays[f"{prefix}indices"]
    data = arrays[f"{prefix}data"] if f"{prefix}data" in arrays else np.ones(len(indices))
    return sp.csr_matrix((data, indices, arrays[f"{prefix}indptr"]), shape=tuple(arrays[f"{prefix}shape"]))


def scorer_arrays(scorer: TrackScorer) -> dict[str, np.ndarray]:
    """The arrays that hold `scorer` (with its training tracks and plays), by name."""
    statistics = scorer.statistics
    return {
        "scorer_tracks": _text(statistics.tracks.tolist()),
        "scorer_plays": statistics.plays.astype(np.int64),
        "scorer_popularity_rank": statistics.popularity_rank.astype(np.int64),
        "scorer_layout": _text(_layout(scorer)),
        **_part_arrays("scorer_", scorer),
    }


def _layout(scorer: TrackScorer) -> dict[str, Any]:
    if isinstance(scorer, SequentialRules):
        return {"family": "rules", "last_n": scorer.last_n, "recency": scorer.recency}
    if isinstance(scorer, SessionKnn):
        return {
            "family": "session_knn",
            "k": scorer.k,
            "weighting": scorer.weighting,
            "idf_weight": scorer.idf_weight,
            "decay": scorer.decay,
        }
    if isinstance(scorer, Hybrid):
        return {
            "family": "hybrid",
            "weights": list(scorer.weights),
            "candidates": scorer.candidates,
            "parts": [_layout(part) for part in scorer.parts],
        }
    raise TypeError(f"no file layout for {type(scorer).__name__}")


def _part_arrays(prefix: str, scorer: TrackScorer) -> dict[str, np.ndarray]:
    if isinstance(scorer, SequentialRules):
        return _matrix_arrays(prefix, scorer.rules, values=True)
    if isinstance(scorer, SessionKnn):
        arrays = _matrix_arrays(prefix, scorer.playlists, values=False)
        if scorer.positions is not None:
            arrays[f"{prefix}positions"] = scorer.positions.astype(np.int32)
        return arrays
    return {
        name: array
        for number, part in enumerate(scorer.parts)
        for name, array in _part_arrays(f"{prefix}part{number}_", part).items()
    }


def scorer_from_arrays(arrays: Mapping[str, np.ndarray]) -> TrackScorer:
    """The model `scorer_arrays` wrote."""
    tracks = np.asarray(_read_text(arrays["scorer_tracks"]), dtype=object)
    statistics = TrainStatistics.from_ordered(
        tracks,
        arrays["scorer_plays"],
        arrays["scorer_popularity_rank"],
        _NO_TRANSITIONS,
        _NO_TRANSITIONS,
        _NO_TRANSITIONS,
    )
    return _part(_read_text(arrays["scorer_layout"]), "scorer_", arrays, statistics)


def _part(
    layout: dict[str, Any], prefix: str, arrays: Mapping[str, np.ndarray], statistics: TrainStatistics
) -> TrackScorer:
    family = layout["family"]
    if family == "rules":
        return SequentialRules(_matrix(prefix, arrays), statistics, layout["last_n"], layout["recency"])
    if family == "session_knn":
        return SessionKnn(
            _matrix(prefix, arrays),
            statistics,
            layout["k"],
            layout["weighting"],
            layout["idf_weight"],
            layout.get("decay", 0.0),
            arrays.get(f"{prefix}positions"),
        )
    if family == "hybrid":
        parts = tuple(
            _part(part, f"{prefix}part{number}_", arrays, statistics)
            for number, part in enumerate(layout["parts"])
        )
        # A hybrid written before candidates were kept fused every scored track of its parts.
        return Hybrid(parts, tuple(layout["weights"]), statistics, layout.get("candidates"))
    raise ValueError(f"unknown model family {family!r} in the model file")
