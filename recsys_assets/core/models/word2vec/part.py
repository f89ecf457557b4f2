"""A Word2Vec model as a hybrid's part: each playlist's tracks most similar to its query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.data.track_ids import split_track_id
from recsys_assets.core.models.file_checks import entry
from recsys_assets.core.models.sparse import SCORE_DECIMALS, TrackScorer
from recsys_assets.core.models.word2vec.strategies import QueryStrategy, playlist_query

PART_TRACKS = 1_000
"""The most similar tracks per playlist a Word2Vec part scores (a hybrid's parts pass on as many)."""


@dataclass(frozen=True)
class EmbeddingPart(TrackScorer):
    """Word2Vec vectors (`model`, a `Word2VecModel`) scoring, for each playlist, the `tracks`
    tracks whose vectors are most similar to the query its `strategy` makes (cosine, where
    positive), over the training tracks of `statistics`; the played tracks the query uses are
    not scored (successor lists are the rules part's, not this one's)."""

    score_kind: ClassVar[str] = "cosine similarity"
    family_name: ClassVar[str] = "word2vec"

    model: Any
    strategy: QueryStrategy
    seed: int
    statistics: TrainStatistics
    tracks: int = PART_TRACKS
    rows_per_batch: int = 32
    """Rows scored at once: their similarities to every track are held together."""

    @cached_property
    def _training_index(self) -> np.ndarray:
        """Each vector's index among the training tracks (-1 where not one); shape (vectors,)."""
        return self.statistics.index_of(self.model.embedding.keys)

    def scores(self, inputs: Sequence[Sequence[str]]) -> sp.csr_matrix:
        embedding = self.model.embedding
        fallback = int(np.random.default_rng(self.seed).integers(0, len(embedding)))
        groups = embedding.artist_tracks if self.strategy.cold_start == "artist" else {}
        queries, used, rows = [], [], []
        for row, tracks in enumerate(inputs):
            query, left_out = playlist_query(
                tracks,
                split_track_id(tracks[-1])[0],
                embedding.key_to_index,
                embedding.unit,
                self.strategy,
                fallback,
                groups,
            )
            if query is not None:
                queries.append(query)
                used.append(left_out)
                rows.append(row)
        shape = (len(inputs), len(self.statistics.tracks))
        if not rows:
            return sp.csr_matrix(shape)
        similarity = np.asarray(queries, dtype=np.float32) @ embedding.unit.T
        for place, left_out in enumerate(used):
            similarity[place, left_out] = 0
        kept = min(self.tracks, similarity.shape[1])
        best = np.argpartition(-similarity, kept - 1, axis=1)[:, :kept]
        values = np.take_along_axis(similarity, best, axis=1).astype(np.float64)
        tracks = self._training_index[best]
        scored = (values > 0) & (tracks >= 0)
        matrix = sp.csr_matrix(
            (
                np.round(values[scored], SCORE_DECIMALS),
                (np.repeat(np.asarray(rows), kept).reshape(best.shape)[scored], tracks[scored]),
            ),
            shape=shape,
        )
        matrix.eliminate_zeros()
        return matrix

    def describe(self, reached: int, tracks: Sequence[str]) -> str:
        return f"{reached} track(s) whose vectors are most like the query, then the most played"

    def file_layout(self) -> dict[str, Any]:
        return {
            "family": self.family_name,
            "tracks": self.tracks,
            "strategy": self.strategy.as_dict(),
            "seed": self.seed,
        }

    def file_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        from recsys_assets.core.models.word2vec.model import word2vec_arrays

        return {f"{prefix}{name}": array for name, array in word2vec_arrays(self.model).items()}


def read_embedding_part(
    layout: Mapping[str, Any],
    prefix: str,
    arrays: Mapping[str, np.ndarray],
    statistics: TrainStatistics,
    families: Mapping[str, Any],
) -> EmbeddingPart:
    """The part `EmbeddingPart.file_layout` and `file_arrays` wrote under `prefix`."""
    from recsys_assets.core.models.word2vec.model import word2vec_from_arrays

    own = {name[len(prefix) :]: arrays[name] for name in arrays if name.startswith(prefix)}
    return EmbeddingPart(
        word2vec_from_arrays(own, {}, families),
        QueryStrategy.from_dict(entry(layout, "strategy", dict)),
        entry(layout, "seed", int),
        statistics,
        entry(layout, "tracks", int, low=1),
    )
