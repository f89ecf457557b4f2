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
from recsys_assets.core.models.file_checks import DamagedModelFile, array, track_ids, vector
from recsys_assets.core.models.sparse import TrackScorer

PREFIX = "scorer_"
_NO_TRANSITIONS = np.zeros(0, dtype=np.int64)


def json_array(value: Any) -> np.ndarray:
    """`value` (JSON-serialisable) as a model file's array of UTF-8 bytes."""
    return np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)


def json_of_array(values: np.ndarray) -> Any:
    """The value `json_array` wrote."""
    return json.loads(values.tobytes().decode("utf-8"))


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


def matrix_from_arrays(
    prefix: str,
    arrays: Mapping[str, np.ndarray],
    values: bool,
    rows: int | None = None,
    columns: int | None = None,
) -> sp.csr_matrix:
    """The matrix `matrix_arrays` wrote under `prefix` (with its `data` when `values`, else every
    entry 1), of `rows` and `columns` where given; DamagedModelFile when its arrays do not make
    one."""
    shape = vector(arrays, f"{prefix}shape", "i", 2, low=0)
    for name, expected, found in (("rows", rows, shape[0]), ("columns", columns, shape[1])):
        if expected is not None and found != expected:
            raise DamagedModelFile(f"the matrix {prefix!r} has {found} {name}, expected {expected}")
    indptr = vector(arrays, f"{prefix}indptr", "i", int(shape[0]) + 1, low=0)
    indices = vector(arrays, f"{prefix}indices", "i", low=0, high=int(shape[1]))
    if indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
        raise DamagedModelFile(f"the array {prefix}indptr does not delimit the rows of {prefix}indices")
    data = vector(arrays, f"{prefix}data", "f", len(indices)) if values else np.ones(len(indices))
    return sp.csr_matrix((data, indices, indptr), shape=(int(shape[0]), int(shape[1])))


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
    tracks = track_ids(json_of_array(array(arrays, "scorer_tracks")), "scorer_tracks")
    n = len(tracks)
    popularity_rank = vector(arrays, "scorer_popularity_rank", "i", n, low=0, high=n)
    if len(np.unique(popularity_rank)) != n:
        raise DamagedModelFile("the array 'scorer_popularity_rank' repeats a rank")
    statistics = TrainStatistics.from_ordered(
        tracks,
        vector(arrays, "scorer_plays", "i", n, low=0),
        popularity_rank,
        _NO_TRANSITIONS,
        _NO_TRANSITIONS,
        _NO_TRANSITIONS,
    )
    return read_layout(json_of_array(array(arrays, "scorer_layout")), PREFIX, arrays, statistics, families)


def read_layout(
    layout: Mapping[str, Any],
    prefix: str,
    arrays: Mapping[str, np.ndarray],
    statistics: TrainStatistics,
    families: Mapping[str, Any],
) -> TrackScorer:
    """The model a layout names, its arrays under `prefix`; DamagedModelFile for an unknown family."""
    name = layout.get("family") if isinstance(layout, Mapping) else None
    family = families.get(name) if isinstance(name, str) else None
    if family is None or family.layout_reader is None:
        raise DamagedModelFile(f"the model's layout names no known model family ({name!r})")
    return family.layout_reader(layout, prefix, arrays, statistics, families)
