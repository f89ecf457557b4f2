"""Exact ranks of held-out tracks by cosine similarity to an embedding query, in bounded-memory
batches."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from recsys_assets.core.data.cases import MISSED, EvaluationCases, PlayedTracks, without_played
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.evaluation.metrics import METRIC_KS
from recsys_assets.core.evaluation.ranking import (
    COVERAGE_ROWS,
    ProgressCallback,
    Ranking,
    coverage,
    coverage_rows,
)
from recsys_assets.core.models.successors import (
    Outranks,
    popularity_outranks,
    positions_within,
)
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.strategies import TUTORIAL_STRATEGY, QueryStrategy, playlist_query

DEFAULT_CHUNK_BYTES = 512 * 2**20


SCREEN_TRACKS = 8_192


SCREEN_MARGIN = 1e-5


THREADS = os.cpu_count() or 1


@dataclass(frozen=True)
class EmbeddingRanking(Ranking):
    """A `Ranking` by an embedding, with the queries behind it.

    `has_query` has shape (rows,); `queries` (rows, dim) holds each row's unit query vector
    (zeros where the row fell back on popularity), `left_out` the vocabulary indices each row's
    query leaves out of its list.
    """

    queries: np.ndarray
    has_query: np.ndarray
    left_out: list[np.ndarray]


def _queries(
    embedding: TrackEmbedding,
    cases: EvaluationCases,
    strategy: QueryStrategy,
    seed: int,
    train: TrainStatistics | None,
    leave_out_played: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """Per row: a unit query vector (or none, for popularity), the tracks it leaves out (every
    known track of the playlist with `leave_out_played`)."""
    if strategy.cold_start == "popular" and train is None:
        raise ValueError("cold_start 'popular' needs training statistics")
    key_to_index, unit = embedding.key_to_index, embedding.unit
    fallback = np.random.default_rng(seed).integers(0, len(unit), len(cases))
    groups = embedding.artist_tracks if strategy.cold_start == "artist" else {}
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
        if leave_out_played:
            played = embedding.index_of(inputs)
            left_out = np.union1d(left_out, played[played >= 0]).astype(np.int64)
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


def _query_keys(queries: np.ndarray, excluded: list[np.ndarray]) -> np.ndarray:
    """One row per query: the bits of its vector, shape (rows, dim), then the tracks it leaves out,
    sorted and padded with -1. Queries with equal keys score every track alike."""
    left_out = _padded(excluded).astype(np.int32)
    left_out.sort(axis=1)
    return np.hstack([np.ascontiguousarray(queries, dtype=np.float32).view(np.int32), left_out])


def embedding_ranks(
    embedding: TrackEmbedding,
    cases: EvaluationCases,
    seed: int,
    strategy: QueryStrategy = TUTORIAL_STRATEGY,
    train: TrainStatistics | None = None,
    top_k: int = max(METRIC_KS),
    coverage_sample: int = COVERAGE_ROWS,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_progress: ProgressCallback | None = None,
    leave_out_played: bool = False,
) -> EmbeddingRanking:
    """Rank of each held-out track among all tracks by exact cosine similarity to the query.

    With the default strategy this matches gensim's `most_similar(last track)`, which leaves the
    query out; a query track outside the vocabulary becomes a track drawn with `seed`. Ranks are
    exact below max(top_k, 100); beyond that they may read MISSED. Coverage is Coverage@`top_k`
    of the `coverage_rows` (at most `coverage_sample` of them) over the training tracks of
    `train` (the vocabulary without it). Extra memory stays within about `chunk_bytes`.
    """
    return embedding_rankings(
        embedding,
        cases,
        seed,
        [strategy],
        train,
        top_k,
        coverage_sample,
        chunk_bytes,
        on_progress,
        leave_out_played,
    )[0]


def embedding_rankings(
    embedding: TrackEmbedding,
    cases: EvaluationCases,
    seed: int,
    strategies: Sequence[QueryStrategy],
    train: TrainStatistics | None = None,
    top_k: int = max(METRIC_KS),
    coverage_sample: int = COVERAGE_ROWS,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    on_progress: ProgressCallback | None = None,
    leave_out_played: bool = False,
) -> list[EmbeddingRanking]:
    """`embedding_ranks` under each of `strategies`, every distinct query scored once: strategies
    that differ only in their cold start share the rows whose tracks are known.

    Rows that share a query share its scores. A first pass scores every query against every n-th
    track only (about `SCREEN_TRACKS` of them): a row with `rank_limit` of those above its held-out
    track is a miss, exactly, so only the other rows need the full matrix multiply and count.
    """
    unit = embedding.unit
    size = len(unit)
    target = embedding.index_of(cases.targets)
    top_k = min(top_k, max(size - 1, 1))
    rank_limit = max(top_k, max(METRIC_KS))
    built = [_queries(embedding, cases, strategy, seed, train, leave_out_played) for strategy in strategies]
    ranks = np.full((len(strategies), len(cases)), MISSED, dtype=np.int64)
    covered = np.zeros((len(strategies), size), dtype=bool)
    in_sample = np.zeros(len(cases), dtype=bool)
    in_sample[coverage_rows(len(cases), coverage_sample)] = True
    row_queries, row_case, row_strategy, row_excluded = [], [], [], []
    for number, (query, has_vector, excluded, _) in enumerate(built):
        popular_rows = np.flatnonzero(~has_vector)
        if len(popular_rows):
            ranks[number, popular_rows] = train.popularity_rank_of(
                [cases.targets[row] for row in popular_rows]
            )
            if leave_out_played:
                ranks[number, popular_rows] = _popular_without_played(train, cases, popular_rows)
        if in_sample[popular_rows].any():
            known = embedding.index_of(train.tracks[train.by_popularity[:top_k]])
            covered[number, known[known >= 0]] = True
        scored = np.flatnonzero(has_vector & ((target >= 0) | in_sample))
        row_queries.append(query[scored])
        row_case.append(scored)
        row_strategy.append(np.full(len(scored), number))
        row_excluded.extend(excluded[row] for row in scored)
    queries = np.concatenate(row_queries)
    row_case, row_strategy = np.concatenate(row_case), np.concatenate(row_strategy)
    _, first, query_of_row = np.unique(
        _query_keys(queries, row_excluded), axis=0, return_index=True, return_inverse=True
    )
    query_of_row = query_of_row.reshape(-1)
    unique_queries = queries[first]
    unique_excluded = [row_excluded[row] for row in first]
    ranked_row = target[row_case] >= 0
    sampled_by = np.zeros((len(strategies), len(first)), dtype=bool)
    for number in range(len(strategies)):
        sampled_by[number, query_of_row[(row_strategy == number) & in_sample[row_case]]] = True
    sampled = sampled_by.any(axis=0)
    target_scores = np.einsum("ij,ij->i", queries, unit[target[row_case]])
    target_scores[
        [target[case] in left_out for case, left_out in zip(row_case, row_excluded, strict=True)]
    ] = -np.inf

    unresolved = ranked_row.copy()
    coverage_bound = np.full(len(first), -np.inf, dtype=np.float32)
    screen = slice(0, size, max(2, size // SCREEN_TRACKS))
    screen_vectors = np.ascontiguousarray(unit[screen])
    screening = len(screen_vectors) > 4 * rank_limit
    pool = ThreadPoolExecutor(THREADS)
    order = np.argsort(query_of_row, kind="stable")
    bounds = np.searchsorted(query_of_row[order], np.arange(len(first) + 1))
    if screening:
        chunk = max(1, chunk_bytes // (len(screen_vectors) * (unit.itemsize + 1) * 2))
        for start in range(0, len(first), chunk):
            stop = min(start + chunk, len(first))
            scores = unique_queries[start:stop] @ screen_vectors.T
            _without(scores, unique_excluded[start:stop], screen)

            def screen_members(members: np.ndarray, scores: np.ndarray = scores, start: int = start) -> None:
                above = scores[query_of_row[members] - start] > target_scores[members, None] + SCREEN_MARGIN
                unresolved[members] = (np.count_nonzero(above, axis=1) < rank_limit) & ranked_row[members]

            list(pool.map(screen_members, np.array_split(order[bounds[start] : bounds[stop]], THREADS)))
            chosen = np.flatnonzero(sampled[start:stop])
            if len(chosen) and scores.shape[1] > top_k:
                coverage_bound[start + chosen] = np.partition(scores[chosen], -top_k, axis=1)[:, -top_k]
            if on_progress:
                on_progress("screened queries", stop, len(first))

    needed = sampled.copy()
    needed[query_of_row[unresolved]] = True
    needed = np.flatnonzero(needed)
    chunk = max(1, chunk_bytes // (size * (unit.itemsize + 1)))
    for start in range(0, len(needed), chunk):
        batch = needed[start : start + chunk]
        scores = unique_queries[batch] @ unit.T
        _without(scores, [unique_excluded[unique] for unique in batch])

        def finish(position: int, batch: np.ndarray = batch, scores: np.ndarray = scores) -> None:
            unique = batch[position]
            members = order[bounds[unique] : bounds[unique + 1]]
            members = members[unresolved[members]]
            if len(members):
                own = scores[position, target[row_case[members]]]
                counts = _counts_above(scores[position], own)
                found = np.where(np.isneginf(own) | (counts >= rank_limit), MISSED, counts)
                ranks[row_strategy[members], row_case[members]] = found
            if sampled[unique]:
                candidates = np.flatnonzero(scores[position] >= coverage_bound[unique])
                best = candidates[np.argpartition(scores[position, candidates], -top_k)[-top_k:]]
                for number in np.flatnonzero(sampled_by[:, unique]):
                    covered[number, best] = True

        list(pool.map(finish, range(len(batch))))
        if on_progress:
            on_progress("fully scored queries", min(start + chunk, len(needed)), len(needed))
    pool.shutdown()
    return [
        EmbeddingRanking(
            ranks=ranks[number],
            query_in_vocabulary=query_known,
            target_in_vocabulary=target >= 0,
            coverage=coverage(
                np.flatnonzero(covered[number]), len(train.tracks) if train is not None else size
            ),
            queries=query,
            has_query=has_vector,
            left_out=excluded,
        )
        for number, (query, has_vector, excluded, query_known) in enumerate(built)
    ]


def _popular_without_played(train: TrainStatistics, cases: EvaluationCases, rows: np.ndarray) -> np.ndarray:
    """The ranks of `rows`' held-out tracks among the most played training tracks that their
    playlists do not hold; shape (len(rows),)."""
    chosen = EvaluationCases(
        inputs=[cases.inputs[row] for row in rows],
        last_artists=[cases.last_artists[row] for row in rows],
        targets=[cases.targets[row] for row in rows],
    )
    targets = train.index_of(chosen.targets)

    def before(pair_rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        return train.popularity_rank[tracks] < train.popularity_rank[targets[pair_rows]]

    played = PlayedTracks(chosen.inputs, train.index_of)
    return without_played(train.popularity_rank_of(chosen.targets), targets, played, before)


def _counts_above(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of `scores` (tracks,) exceed each of `thresholds` (rows,), in one pass over
    `scores`: the rows of one query mostly share their held-out track, or rank it high."""
    distinct, of_row = np.unique(thresholds, return_inverse=True)
    finite = distinct[np.isfinite(distinct)]
    counts = np.full(len(distinct), len(scores), dtype=np.int64)
    if len(finite):
        above = scores[scores > finite[0]]
        counts[np.isfinite(distinct)] = np.count_nonzero(above > finite[:, None], axis=1)
    return counts[of_row.reshape(-1)]


def embedding_outranks(
    ranking: EmbeddingRanking, embedding: TrackEmbedding, cases: EvaluationCases, statistics: TrainStatistics
) -> Outranks:
    """`Outranks` for the lists of an embedding `ranking`: by cosine similarity to the row's
    query (a track the query leaves out never outranks), or by popularity where the row fell back
    on it; tracks are indices into `statistics.tracks`."""
    by_popularity = popularity_outranks(statistics, statistics.popularity_rank_of(cases.targets))

    def outranks(rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        result = np.zeros(len(rows), dtype=bool)
        cold = ~ranking.has_query[rows]
        result[cold] = by_popularity(rows[cold], tracks[cold])
        warm = np.flatnonzero(~cold)
        if not len(warm):
            return result
        distinct, inverse = np.unique(tracks[warm], return_inverse=True)
        known = embedding.index_of(statistics.tracks[distinct].tolist())[inverse.reshape(-1)]
        left_out = _padded([ranking.left_out[row] for row in rows[warm]])
        counted = (known >= 0) & ~(known[:, None] == left_out).any(axis=1)
        scored, queries = warm[counted], ranking.queries[rows[warm[counted]]]
        targets = embedding.index_of([cases.targets[row] for row in rows[scored]])
        own = np.einsum("ij,ij->i", embedding.unit[targets], queries)
        result[scored] = np.einsum("ij,ij->i", embedding.unit[known[counted]], queries) > own
        return result

    return outranks


def _padded(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays as the rows of one matrix, padded with -1; shape (len(arrays), longest)."""
    lengths = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
    matrix = np.full((len(arrays), int(lengths.max(initial=0))), -1, dtype=np.int64)
    if matrix.size:
        matrix[np.repeat(np.arange(len(arrays)), lengths), positions_within(lengths)] = np.concatenate(arrays)
    return matrix
