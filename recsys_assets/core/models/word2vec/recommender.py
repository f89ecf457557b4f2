"""A Word2Vec model under one query strategy, as a `Recommender`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.statistics import Successors, TrainStatistics
from recsys_assets.core.data.track_ids import split_track_id
from recsys_assets.core.evaluation.ranking import ProgressCallback, Ranking
from recsys_assets.core.models.base import (
    PLAYS,
    Recommendations,
    check_request,
    served_list,
)
from recsys_assets.core.models.successors import (
    followers_of,
    successor_ranks,
    successors_then,
)
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.ranking import embedding_outranks, embedding_ranks
from recsys_assets.core.models.word2vec.strategies import TUTORIAL_STRATEGY, QueryStrategy, playlist_query

SIMILARITY = "cosine similarity"


class EmbeddingRecommender:
    """A Word2Vec model under one query strategy: cosine similarity to the playlist's query
    vector, the last track's successors first when the strategy says so.

    Evaluation passes the data build's `statistics` (popularity and every successor); serving
    passes the `successors` the model file keeps and reads popularity from the vectors' counts.
    """

    def __init__(
        self,
        embedding: TrackEmbedding,
        strategy: QueryStrategy = TUTORIAL_STRATEGY,
        seed: int = 0,
        statistics: TrainStatistics | None = None,
        successors: Successors | None = None,
        leave_out_played: bool = False,
    ) -> None:
        self.embedding = embedding
        self.leaves_out_played = leave_out_played
        self.strategy = strategy
        self.seed = seed
        self.statistics = statistics
        if successors is None and statistics is not None:
            successors = statistics.successors
        self.successors = successors

    def rank(self, cases: EvaluationCases, k: int, on_progress: ProgressCallback | None = None) -> Ranking:
        strategy = self.strategy
        base = replace(strategy, successors_first=False, min_successor_count=1)
        ranking = embedding_ranks(
            self.embedding,
            cases,
            self.seed,
            base,
            self.statistics,
            top_k=k,
            on_progress=on_progress,
            leave_out_played=self.leaves_out_played,
        )
        if not strategy.successors_first:
            return ranking
        if self.statistics is None:
            raise ValueError("ranking successors first needs training statistics")
        ranks = successor_ranks(
            ranking.ranks,
            cases,
            self.statistics.successors,
            strategy.min_successor_count,
            embedding_outranks(ranking, self.embedding, cases, self.statistics),
            self.leaves_out_played,
        )
        return replace(ranking, ranks=ranks)

    def recommend(self, tracks: Sequence[str], k: int) -> Recommendations:
        check_request(tracks, k)
        return served_list(self._full_list, tracks, k, self.leaves_out_played)

    def _full_list(self, tracks: Sequence[str], k: int) -> Recommendations:
        """Scores are cosine similarities; when the strategy falls back on the most popular
        tracks, plays in training; successors score the times they followed the last track.
        Tracks the query uses are left out of the embedding's part."""
        check_request(tracks, k)
        strategy, embedding = self.strategy, self.embedding
        if strategy.successors_first and self.successors is None:
            raise ValueError("the strategy ranks successors first, but the model has no successor lists")
        first = (
            followers_of(self.successors, tracks[-1], strategy.min_successor_count)
            if strategy.successors_first
            else []
        )
        unknown = [track for track in tracks if track not in embedding.key_to_index]
        fallback = int(np.random.default_rng(self.seed).integers(0, len(embedding)))
        last_artist = split_track_id(tracks[-1])[0]
        groups = embedding.artist_tracks if strategy.cold_start == "artist" else {}
        query, left_out = playlist_query(
            tracks, last_artist, embedding.key_to_index, embedding.unit, strategy, fallback, groups
        )
        wanted = k + len(first)
        if query is None:
            counts = embedding.counts
            best = np.lexsort((np.arange(len(counts)), -counts))[:wanted]
            rest = [(embedding.keys[i], float(counts[i])) for i in best]
            rest_kind = PLAYS
            described = "most popular tracks (no known track)"
        else:
            scores = embedding.unit @ query
            scores[left_out] = -np.inf
            top = (
                np.argpartition(scores, -wanted)[-wanted:] if wanted < len(scores) else np.arange(len(scores))
            )
            top = top[np.lexsort((top, -scores[top]))]
            rest = [(embedding.keys[i], float(scores[i])) for i in top if np.isfinite(scores[i])]
            rest_kind = SIMILARITY
            used = [embedding.keys[i] for i in left_out]
            if not used:
                described = f"similar to {last_artist}'s known tracks (no known track)"
            elif set(used) & set(tracks):
                described = f"similar to {', '.join(used)}"
            else:
                described = f"similar to random track {used[0]} (no known track)"
        if first:
            described = (
                f"{len(first)} track(s) that followed {tracks[-1]} in training first, then {described}"
            )
        return Recommendations(*successors_then(first, rest, k, rest_kind), described, unknown)
