"""Next-track evaluation: exact cosine ranks in bounded-memory batches, metrics and baselines."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from gensim.models.keyedvectors import KeyedVectors

from recsys_assets.core.playlists import split_track_id

MISSED = np.iinfo(np.int64).max
"""Rank of a held-out track that cannot be recommended (unknown, or the query itself)."""

DEFAULT_CHUNK_BYTES = 512 * 2**20
METRIC_KS = (10, 50, 100)
CURVE_KS = (1, 2, 5, 10, 20, 50, 100)
COVERAGE_QUERIES = 1_000
SCREEN_TRACKS = 8_192
SCREEN_MARGIN = 1e-5
THREADS = os.cpu_count() or 1

ProgressCallback = Callable[[str, int, int], None]
"""Called with what is counted, how many are done and how many in all."""
QueryMode = Literal["last", "mean_last_n"]
ColdStart = Literal["random", "artist", "popular"]


@dataclass(frozen=True)
class QueryStrategy:
    """How a playlist becomes a query, and what to do when its tracks are not in the vocabulary.

    query: `last` (the seed's) uses the last track; `mean_last_n` the mean of the last `last_n`
    tracks found in the vocabulary. cold_start: `random` (the seed's) queries a seeded random
    track; `artist` the mean of the last track's artist's known tracks; `popular` recommends the
    most popular training tracks.
    """

    query: QueryMode = "last"
    last_n: int = 3
    cold_start: ColdStart = "random"

    def __post_init__(self) -> None:
        if self.query not in ("last", "mean_last_n"):
            raise ValueError(f"query strategy {self.query!r}: expected 'last' or 'mean_last_n'")
        if self.cold_start not in ("random", "artist", "popular"):
            raise ValueError(f"cold_start {self.cold_start!r}: expected 'random', 'artist' or 'popular'")
        if self.last_n < 1:
            raise ValueError(f"last_n must be >= 1, got {self.last_n}")


SEED_STRATEGY = QueryStrategy()
"""The seed flow's strategy: the last track, a seeded random track when it is unknown."""


@dataclass(frozen=True)
class EvaluationCases:
    """Evaluation rows: the input tracks, the artist of the last input track, the held-out track."""

    inputs: list[list[str]]
    last_artists: list[str]
    targets: list[str]

    @classmethod
    def from_columns(
        cls,
        inputs: Iterable[Sequence[str]],
        artist_sequences: Iterable[Sequence[str]],
        targets: Iterable[str],
    ) -> EvaluationCases:
        """Cases from the playlist table's track_test_x, artist_sequence and track_test_y."""
        return cls(
            inputs=[[str(t) for t in sequence] for sequence in inputs],
            last_artists=[str(artists[-2]) for artists in artist_sequences],
            targets=[str(t) for t in targets],
        )

    def __len__(self) -> int:
        return len(self.targets)


def read_splits(
    conn: duckdb.DuckDBPyConnection, cases_table: str = "validate_playlists"
) -> tuple[list[list[str]], EvaluationCases]:
    """The training track sequences and the evaluation cases of `cases_table`, by playlist_id."""
    sentences = [
        row[0]
        for row in conn.execute("SELECT track_sequence FROM train_playlists ORDER BY playlist_id").fetchall()
    ]
    rows = conn.execute(
        f"SELECT track_test_x, artist_sequence, track_test_y FROM {cases_table} ORDER BY playlist_id"
    ).fetchall()
    return sentences, EvaluationCases.from_columns(*zip(*rows, strict=True))


@dataclass(frozen=True)
class TrainStatistics:
    """What the baselines and the `popular` cold start learn from the training playlists."""

    tracks: np.ndarray
    popularity_rank: np.ndarray
    by_popularity: np.ndarray
    follower_start: np.ndarray
    followers: np.ndarray

    @classmethod
    def from_sequences(cls, track_sequences: Sequence[Sequence[str]]) -> TrainStatistics:
        lengths = np.fromiter((len(s) for s in track_sequences), dtype=np.int64, count=len(track_sequences))
        tokens = np.fromiter(chain.from_iterable(track_sequences), dtype=object, count=int(lengths.sum()))
        codes, tracks = pd.factorize(tokens, sort=True)
        n = len(tracks)
        counts = np.bincount(codes, minlength=n)
        by_popularity = np.lexsort((np.arange(n), -counts))
        popularity_rank = np.empty(n, dtype=np.int64)
        popularity_rank[by_popularity] = np.arange(n)

        continues = np.ones(len(codes), dtype=bool)
        continues[np.cumsum(lengths) - 1] = False
        pairs = codes[:-1][continues[:-1]].astype(np.int64) * n + codes[1:][continues[:-1]]
        pair_keys, pair_counts = np.unique(pairs, return_counts=True)
        source, follower = np.divmod(pair_keys, n)
        order = np.lexsort((popularity_rank[follower], -pair_counts, source))
        return cls(
            tracks=np.asarray(tracks, dtype=object),
            popularity_rank=popularity_rank,
            by_popularity=by_popularity,
            follower_start=np.searchsorted(source[order], np.arange(n + 1)),
            followers=follower[order],
        )

    def index_of(self, keys: Sequence[str]) -> np.ndarray:
        """Index of each key among the training tracks, -1 where unseen."""
        found = np.searchsorted(self.tracks, np.asarray(keys, dtype=object))
        found = np.minimum(found, len(self.tracks) - 1)
        return np.where(self.tracks[found] == np.asarray(keys, dtype=object), found, -1)


@dataclass(frozen=True)
class Ranking:
    """0-based rank of each held-out track, and what the recommendation lists covered."""

    ranks: np.ndarray
    query_in_vocabulary: np.ndarray
    target_in_vocabulary: np.ndarray
    coverage: float


def ranking_metrics(ranks: np.ndarray, cutoff: int = max(METRIC_KS)) -> dict[str, float]:
    """Hit rate at each of `CURVE_KS` and `cutoff`, MRR and NDCG at `cutoff`, from 0-based ranks."""
    rows = max(len(ranks), 1)
    ks = sorted({*CURVE_KS, cutoff})
    metrics = {f"hit_rate@{k}": float(np.count_nonzero(ranks < k) / rows) for k in ks}
    inside = ranks[ranks < cutoff].astype(np.float64)
    metrics[f"mrr@{cutoff}"] = float(np.sum(1.0 / (inside + 1.0)) / rows)
    metrics[f"ndcg@{cutoff}"] = float(np.sum(1.0 / np.log2(inside + 2.0)) / rows)
    return metrics


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """Share of rows whose held-out track ranks in the top k."""
    return float(np.count_nonzero(ranks < k) / len(ranks)) if len(ranks) else 0.0


def vocabulary_by_artist(vectors: KeyedVectors) -> dict[str, np.ndarray]:
    """Vocabulary indices of each artist's tracks, read from the track ids."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(vectors.index_to_key):
        groups.setdefault(split_track_id(key)[0], []).append(index)
    return {artist: np.array(indices) for artist, indices in groups.items()}


NO_TRACKS = np.empty(0, dtype=np.int64)


def _unit_mean(rows: np.ndarray) -> np.ndarray:
    mean = rows.mean(axis=0) if len(rows) > 1 else rows[0]
    return mean / np.linalg.norm(mean)


def playlist_query(
    inputs: Sequence[str],
    last_artist: str,
    key_to_index: Mapping[str, int],
    unit: np.ndarray,
    strategy: QueryStrategy,
    fallback: int,
    artist_tracks: Mapping[str, np.ndarray],
) -> tuple[np.ndarray | None, np.ndarray]:
    """One playlist's unit query vector, or None to fall back on the most popular tracks, and the
    vocabulary indices of the tracks the query leaves out of its results.

    `fallback` is the track a `random` cold start queries; `artist_tracks` maps an artist to the
    indices of its tracks, for an `artist` cold start.
    """
    if strategy.query == "last":
        known = key_to_index.get(inputs[-1], -1)
        used = np.array([known]) if known >= 0 else NO_TRACKS
    else:
        found = (key_to_index.get(t, -1) for t in reversed(inputs))
        used = np.array([i for i in found if i >= 0][: strategy.last_n], dtype=np.int64)
    if not len(used) and strategy.cold_start == "random":
        used = np.array([fallback])
    if len(used):
        return _unit_mean(unit[used]), used
    if strategy.cold_start == "artist" and last_artist in artist_tracks:
        return _unit_mean(unit[artist_tracks[last_artist]]), NO_TRACKS
    return None, NO_TRACKS


def _queries(
    vectors: KeyedVectors,
    unit: np.ndarray,
    cases: EvaluationCases,
    strategy: QueryStrategy,
    seed: int,
    train: TrainStatistics | None,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """Per row: a unit query vector (or none, for popularity), the tracks it leaves out."""
    if strategy.cold_start == "popular" and train is None:
        raise ValueError("cold_start 'popular' needs training statistics")
    key_to_index = vectors.key_to_index
    fallback = np.random.default_rng(seed).integers(0, len(unit), len(cases))
    groups = vocabulary_by_artist(vectors) if strategy.cold_start == "artist" else {}
    query = np.zeros((len(cases), unit.shape[1]), dtype=np.float32)
    has_vector = np.zeros(len(cases), dtype=bool)
    query_known = np.array([inputs[-1] in key_to_index for inputs in cases.inputs], dtype=bool)
    excluded: list[np.ndarray] = []
    for row, inputs in enumerate(cases.inputs):
        vector, left_out = playlist_query(
            inputs, cases.last_artists[row], key_to_index, unit, strategy, fallback[row], groups
        )
        if vector is not None:
            query[row] = vector
            has_vector[row] = True
        excluded.append(left_out)
    return query, has_vector, excluded, query_known


def _without(scores: np.ndarray, excluded: list[np.ndarray], columns: slice | None = None) -> None:
    """Set each row's excluded tracks to -inf; `columns` maps tracks to a strided subset."""
    lengths = [len(e) for e in excluded]
    if not sum(lengths):
        return
    rows = np.repeat(np.arange(len(excluded)), lengths)
    tracks = np.concatenate(excluded)
    if columns is not None:
        keep = tracks % columns.step == 0
        rows, tracks = rows[keep], tracks[keep] // columns.step
    scores[rows, tracks] = -np.inf


def embedding_ranks(
    vectors: KeyedVectors,
    cases: EvaluationCases,
    seed: int,
    strategy: QueryStrategy = SEED_STRATEGY,
    train: TrainStatistics | None = None,
    top_k: int = max(METRIC_KS),
    coverage_queries: int = COVERAGE_QUERIES,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_progress: ProgressCallback | None = None,
) -> Ranking:
    """Rank of each held-out track among all tracks by exact cosine similarity to the query.

    With the default strategy this matches gensim's `most_similar(last track)`, which leaves the
    query out; a query track outside the vocabulary becomes a track drawn with `seed`. Ranks are
    exact below max(top_k, 100); beyond that they may read MISSED. Coverage is that of the
    top-`top_k` lists of up to `coverage_queries` distinct queries drawn with `seed`. Extra memory
    stays within about `chunk_bytes`.

    Rows that share a query share its scores. A first pass scores every query against every n-th
    track only (about `SCREEN_TRACKS` of them): a row with `rank_limit` of those above its held-out
    track is a miss, exactly, so only the other rows need the full matrix multiply and count.
    """
    unit = vectors.get_normed_vectors()
    size = len(unit)
    query, has_vector, excluded, query_known = _queries(vectors, unit, cases, strategy, seed, train)
    target = np.array([vectors.key_to_index.get(t, -1) for t in cases.targets], dtype=np.int64)
    ranks = np.full(len(cases), MISSED, dtype=np.int64)
    covered = np.zeros(size, dtype=bool)
    top_k = min(top_k, max(size - 1, 1))
    rank_limit = max(top_k, max(METRIC_KS))

    popular_rows = np.flatnonzero(~has_vector)
    if len(popular_rows):
        in_train = train.index_of([cases.targets[row] for row in popular_rows])
        ranks[popular_rows] = np.where(in_train >= 0, train.popularity_rank[np.maximum(in_train, 0)], MISSED)
        top = train.tracks[train.by_popularity[:top_k]]
        covered[[vectors.key_to_index[t] for t in top if t in vectors.key_to_index]] = True

    rows = np.flatnonzero(has_vector & (target >= 0))
    _, first, query_of_row = np.unique(query[rows], axis=0, return_index=True, return_inverse=True)
    unique_rows = rows[first]
    sampled = np.zeros(len(unique_rows), dtype=bool)
    sampled[np.random.default_rng(seed).permutation(len(unique_rows))[:coverage_queries]] = True
    target_scores = np.einsum("ij,ij->i", query[rows], unit[target[rows]])
    target_scores[[target[row] in excluded[row] for row in rows]] = -np.inf

    unresolved = np.ones(len(rows), dtype=bool)
    coverage_bound = np.full(len(unique_rows), -np.inf, dtype=np.float32)
    screen = slice(0, size, max(2, size // SCREEN_TRACKS))
    screen_vectors = np.ascontiguousarray(unit[screen])
    screening = len(screen_vectors) > 4 * rank_limit
    pool = ThreadPoolExecutor(THREADS)
    order = np.argsort(query_of_row, kind="stable")
    bounds = np.searchsorted(query_of_row[order], np.arange(len(unique_rows) + 1))
    if screening:
        chunk = max(1, chunk_bytes // (len(screen_vectors) * (unit.itemsize + 1) * 2))
        for start in range(0, len(unique_rows), chunk):
            stop = min(start + chunk, len(unique_rows))
            scores = query[unique_rows[start:stop]] @ screen_vectors.T
            _without(scores, [excluded[row] for row in unique_rows[start:stop]], screen)

            def screen_members(members: np.ndarray, scores: np.ndarray = scores, start: int = start) -> None:
                above = scores[query_of_row[members] - start] > target_scores[members, None] + SCREEN_MARGIN
                unresolved[members] = np.count_nonzero(above, axis=1) < rank_limit

            list(pool.map(screen_members, np.array_split(order[bounds[start] : bounds[stop]], THREADS)))
            chosen = np.flatnonzero(sampled[start:stop])
            if len(chosen) and scores.shape[1] > top_k:
                coverage_bound[start + chosen] = np.partition(scores[chosen], -top_k, axis=1)[:, -top_k]
            if on_progress:
                on_progress("screened queries", stop, len(unique_rows))

    needed = sampled.copy()
    needed[query_of_row[unresolved]] = True
    needed = np.flatnonzero(needed)
    chunk = max(1, chunk_bytes // (size * (unit.itemsize + 1)))
    for start in range(0, len(needed), chunk):
        batch = needed[start : start + chunk]
        scores = query[unique_rows[batch]] @ unit.T
        _without(scores, [excluded[row] for row in unique_rows[batch]])

        def finish(position: int, batch: np.ndarray = batch, scores: np.ndarray = scores) -> None:
            unique = batch[position]
            members = order[bounds[unique] : bounds[unique + 1]]
            members = members[unresolved[members]]
            if len(members):
                own = scores[position, target[rows[members]]]
                counts = np.count_nonzero(scores[position] > own[:, None], axis=1)
                ranks[rows[members]] = np.where(np.isneginf(own) | (counts >= rank_limit), MISSED, counts)
            if sampled[unique]:
                candidates = np.flatnonzero(scores[position] >= coverage_bound[unique])
                best = np.argpartition(scores[position, candidates], -top_k)[-top_k:]
                covered[candidates[best]] = True

        list(pool.map(finish, range(len(batch))))
        if on_progress:
            on_progress("fully scored queries", min(start + chunk, len(needed)), len(needed))
    pool.shutdown()
    return Ranking(
        ranks=ranks,
        query_in_vocabulary=query_known,
        target_in_vocabulary=target >= 0,
        coverage=float(covered.mean()) if size else 0.0,
    )


def popularity_ranks(train: TrainStatistics, cases: EvaluationCases) -> np.ndarray:
    """Rank of each held-out track in the most-popular-tracks-in-train list."""
    found = train.index_of(cases.targets)
    return np.where(found >= 0, train.popularity_rank[np.maximum(found, 0)], MISSED)


def transition_ranks(train: TrainStatistics, cases: EvaluationCases) -> np.ndarray:
    """Rank of each held-out track in "what followed the last track most often in train",
    topped up with the most popular tracks."""
    last = train.index_of([inputs[-1] for inputs in cases.inputs])
    target = train.index_of(cases.targets)
    ranks = np.full(len(cases), MISSED, dtype=np.int64)
    for row in np.flatnonzero(target >= 0):
        followers = (
            train.followers[train.follower_start[last[row]] : train.follower_start[last[row] + 1]]
            if last[row] >= 0
            else train.followers[:0]
        )
        hit = np.flatnonzero(followers == target[row])
        if len(hit):
            ranks[row] = hit[0]
        else:
            better_followers = np.count_nonzero(
                train.popularity_rank[followers] < train.popularity_rank[target[row]]
            )
            ranks[row] = len(followers) + train.popularity_rank[target[row]] - better_followers
    return ranks
