"""Exact ranks and top-k lists from sparse, non-negative scores over the training tracks: the
scoring path of every family that scores tracks directly (sequential rules, session kNN and the
hybrid). A row lists its scored tracks by score, ties toward the more popular track, then the
unscored tracks by popularity."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.metrics import MISSED


def scored_ranks(scores: sp.csr_matrix, targets: np.ndarray, popularity_rank: np.ndarray) -> np.ndarray:
    """The 0-based rank of each row's target track in the row's list; shape (rows,).

    `scores` (rows, tracks) holds positive scores (absent means unscored); `targets` (rows,) are
    track indices, -1 for a track outside training (MISSED); `popularity_rank` (tracks,) orders
    ties and the unscored tracks.
    """
    scores = scores.tocsr()
    rows = len(targets)
    lengths = np.diff(scores.indptr)
    row_of = np.repeat(np.arange(rows), lengths)
    known = targets >= 0
    safe_target = np.where(known, targets, 0)
    own = np.asarray(scores[np.arange(rows), safe_target]).reshape(-1)
    own_rank = popularity_rank[safe_target]
    entry_rank = popularity_rank[scores.indices]
    before = (scores.data > own[row_of]) | ((scores.data == own[row_of]) & (entry_rank < own_rank[row_of]))
    scored_before = np.bincount(row_of, weights=before, minlength=rows).astype(np.int64)
    more_popular_scored = np.bincount(row_of, weights=entry_rank < own_rank[row_of], minlength=rows)
    unscored_before = own_rank - more_popular_scored.astype(np.int64)
    ranks = np.where(own > 0, scored_before, lengths + unscored_before)
    return np.where(known, ranks, MISSED)


def top_tracks(
    row: sp.csr_matrix, k: int, by_popularity: np.ndarray, popularity_rank: np.ndarray
) -> np.ndarray:
    """The first `k` tracks of one row's list (1, tracks): track indices, shape (min(k, tracks),)."""
    row = row.tocsr()
    order = np.lexsort((popularity_rank[row.indices], -row.data))
    first = row.indices[order[:k]]
    if len(first) >= k:
        return first
    fill = by_popularity[~np.isin(by_popularity, first, assume_unique=True)]
    return np.concatenate([first, fill[: k - len(first)]])
