"""The session kNN family: its parameters, fit and model file."""

from collections.abc import Mapping
from typing import Any

import numpy as np

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.family import Family
from recsys_assets.core.models.file_checks import DamagedModelFile, entry, vector
from recsys_assets.core.models.parameters import Parameter
from recsys_assets.core.models.session_knn.scorer import (
    POSITION_WEIGHTS,
    SessionKnn,
    playlist_matrix,
    playlist_positions,
)
from recsys_assets.core.models.sparse import scorer_fit
from recsys_assets.core.models.sparse_files import matrix_from_arrays, read_track_scorer, track_scorer_arrays


def build_session_knn(
    params: dict[str, Any], statistics: TrainStatistics, codes: np.ndarray, lengths: np.ndarray
) -> SessionKnn:
    """A session kNN over the training playlists (`ScorerBuilder`)."""
    return SessionKnn(
        playlist_matrix(codes, lengths, len(statistics.tracks)),
        statistics,
        k=params["k"],
        weighting=params["weighting"],
        idf_weight=params["idf_weight"],
        decay=params["decay"],
        positions=playlist_positions(codes, lengths) if params["decay"] else None,
    )


def read_session_knn(
    layout: Mapping[str, Any],
    prefix: str,
    arrays: Mapping[str, np.ndarray],
    statistics: TrainStatistics,
    families: Mapping[str, Any],
) -> SessionKnn:
    """The session kNN `SessionKnn.file_layout` and `file_arrays` wrote under `prefix`."""
    playlists = matrix_from_arrays(prefix, arrays, values=False, columns=len(statistics.tracks))
    positions = None
    if f"{prefix}positions" in arrays:
        positions = vector(arrays, f"{prefix}positions", "i", playlists.nnz, low=0)
    # A model file written before decays were kept has none.
    decay = entry(layout, "decay", (int, float), low=0) if "decay" in layout else 0.0
    if decay and positions is None:
        raise DamagedModelFile(f"the array {prefix}positions is missing, which a decay of {decay} needs")
    return SessionKnn(
        playlists,
        statistics,
        entry(layout, "k", int, low=1),
        entry(layout, "weighting", str, choices=POSITION_WEIGHTS),
        entry(layout, "idf_weight", (int, float), low=0),
        decay,
        positions,
    )


FAMILY = Family(
    name=SessionKnn.family_name,
    label="session kNN",
    score_kind=SessionKnn.score_kind,
    key_prefix="knn",
    parameters={
        "k": Parameter(int, 100, lambda v: f"k{v}", "neighbouring training playlists that vote", 1, 10_000),
        "weighting": Parameter(
            str,
            "div",
            str,
            "weight of input position p of L: `linear` p/L, `div` 1/(L - p + 1),"
            " `quadratic` its square, `log` 1/log10(L - p + 2.7)",
            choices=tuple(POSITION_WEIGHTS),
        ),
        "idf_weight": Parameter(
            float, 1.0, lambda v: f"idf{v:g}", "a vote times 1 + `idf_weight` x the track's idf", 0, 100
        ),
        "decay": Parameter(
            float,
            0.0,
            lambda v: f"decay{v:g}" if v else "",
            "STAN's decay around the matched track (0: none)",
            0,
            1000,
        ),
    },
    fit=scorer_fit(build_session_knn),
    write=track_scorer_arrays,
    read=read_track_scorer,
    layout_reader=read_session_knn,
)
