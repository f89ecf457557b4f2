"""The re-ranker family: candidates from a rules and a session kNN model, re-ordered by a
LightGBM ranking learnt on training playlists they did not see."""

from __future__ import annotations

from recsys_assets.core.models.family import Family
from recsys_assets.core.models.hybrid.parts import check_parts_together, part_parameters
from recsys_assets.core.models.parameters import Parameter
from recsys_assets.core.models.reranker.fit import fit_reranker
from recsys_assets.core.models.reranker.scorer import Reranker, read_reranker
from recsys_assets.core.models.sparse_files import read_track_scorer, track_scorer_arrays


def _unless(default: object, key: str):
    """A key part that names a value other than `default` (`key` formatted with it)."""
    return lambda value: "" if value == default else key.format(value)


FAMILY = Family(
    name=Reranker.family_name,
    label="re-ranker",
    score_kind=Reranker.score_kind,
    key_prefix="reranker",
    parameters={
        **part_parameters(
            {
                "rules_steps": None,
                "rules_last_n": 8,
                "rules_weighting": "log",
                "knn_k": 100,
                "knn_weighting": "log",
                "knn_idf_weight": 0.0,
                "knn_decay": 10.0,
            }
        ),
        "candidates": Parameter(
            int,
            300,
            lambda v: f"cand{v}",
            "each generator's best tracks a playlist's candidates hold",
            1,
            5000,
        ),
        "held_out_playlists": Parameter(
            int,
            20_000,
            _unless(20_000, "held{}"),
            "training playlists the ranking learns from (at most all of them, in 5 folds)",
            100,
            1_000_000,
        ),
        "trees": Parameter(
            int,
            300,
            _unless(300, "trees{}"),
            "most trees (fewer where held-back cases stop improving)",
            1,
            5000,
        ),
        "leaves": Parameter(int, 31, _unless(31, "leaves{}"), "leaves per tree", 2, 1024),
        "learning_rate": Parameter(
            float, 0.05, _unless(0.05, "lr{:g}"), "each tree's shrinkage", 0, 1, minimum_excluded=True
        ),
    },
    fit=fit_reranker,
    check_together=check_parts_together,
    write=track_scorer_arrays,
    read=read_track_scorer,
    layout_reader=read_reranker,
)
