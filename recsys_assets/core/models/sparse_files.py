"""The arrays a model file keeps of a model that scores tracks directly: the training tracks with
their plays, the model's layout (its family and settings, its parts' for a model made of
others) and its sparse matrices, each under a prefix."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.sparse import TrackScorer

PREFIX = "scorer_"
_NO_TRANSITIONS = np.zeros(0, dtype=np.int64)


def json_array(value: Any) -> np.ndarray:
    """`value` (JSON-serialisable) as a model file's array of UTF-8 bytes."""
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def json_of_array(array: np.ndarray) -> Any:
    """The value `json_array` wrote."""
    return json.loads(array.tobytes().decode("utf-8"))


def matrix_arrays(prefix: str, matrix: sp.csr_matrix, values: bool) -> dict[str, np.ndarray]:
    """A CSR matrix as arrays named `<prefix>indptr`, `indices`, `shape` (and `data` if `values`;
    without them every entry reads back as 1)."""
    arrays = {
        f"{prefix}indptr": matrix.indptr.astype(np.int64),
        f"{prefix}indices": matrix.indices.astype(np.int32),
        f"{prefix}shape": np.asarray(matrix.shape, dtype=np.int64),
    }
    if values:
        arrays[f"{prefix}data"] = matrix.data.astype(np.float64)
    return arrays


def matrix_from_arrays(prefix: str, arrays: Mapping[str, np.ndarray]) -> sp.csr_matrix:
    """The matrix `matrix_arrays` wrote under `prefix`."""
    indices = arrays[f"{prefix}indices"]
    data = arrays[f"{prefix}data"] if f"{prefix}data" in arrays else np.ones(len(indices))
    return sp.csr_matrix((data, indices, arrays[f"{prefix}indptr"]), shape=tuple(arrays[f"{prefix}shape"]))


def track_scorer_arrays(scorer: TrackScorer) -> dict[str, np.ndarray]:
    """The arrays that hold `scorer` with its training tracks and plays, by name."""
    statistics = scorer.statistics
    return {
        "scorer_tracks": json_array(statistics.tracks.tolist()),
        "scorer_plays": statistics.plays.astype(np.int64),
        "scorer_popularity_rank": statistics.popularity_rank.astype(np.int64),
        "scorer_layout": json_array(scorer.file_layout()),
        **scorer.file_arrays(PREFIX),
    }


def read_track_scorer(
    arrays: Mapping[str, np.ndarray], manifest: Mapping[str, Any], families: Mapping[str, Any]
) -> TrackScorer:
    """The model `track_scorer_arrays` wrote, its layout read by its family in `families`."""
    tracks = np.asarray(json_of_array(arrays["scorer_tracks"]), dtype=object)
    statistics = TrainStatistics.from_ordered(
        tracks,
        arrays["scorer_plays"],
        arrays["scorer_popularity_rank"],
        _NO_TRANSITIONS,
        _NO_TRANSITIONS,
        _NO_TRANSITIONS,
    )
    return read_layout(json_of_array(arrays["scorer_layout"]), PREFIX, arrays, statistics, families)


def read_layout(
    layout: Mapping[str, Any],
    prefix: str,
    arrays: Mapping[str, np.ndarray],
    statistics: TrainStatistics,
    families: Mapping[str, Any],
) -> TrackScorer:
    """The model a layout names, its arrays under `prefix`; ValueError for an unknown family."""
    family = families.get(layout.get("family"))
    if family is None or family.layout_reader is None:
        raise ValueError(f"unknown model family {layout.get('family')!r} in the model file")
    return family.layout_reader(layout, prefix, arrays, statistics, families)
