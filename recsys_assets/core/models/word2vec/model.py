"""A fitted Word2Vec model: its track vectors and the successor lists its strategy may rank
first, and the arrays its model file keeps of them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys_assets.core.data.statistics import Successors, TrainStatistics
from recsys_assets.core.models.base import Recommender
from recsys_assets.core.models.file_checks import DamagedModelFile, array, track_ids, vector
from recsys_assets.core.models.sparse_files import json_array, json_of_array
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.part import EmbeddingPart
from recsys_assets.core.models.word2vec.recommender import EmbeddingRecommender
from recsys_assets.core.models.word2vec.strategies import TUTORIAL_STRATEGY, QueryStrategy

if TYPE_CHECKING:
    from gensim.models.keyedvectors import KeyedVectors

SUCCESSORS_PER_TRACK = 1_000
"""The most successors of one track a model file keeps: more than any recommendation list uses."""


class Word2VecModel:
    """Track vectors (gensim `KeyedVectors` of n tracks) and, when the chosen strategy ranks
    the last track's successors first, the successor lists that serving needs."""

    def __init__(self, vectors: KeyedVectors, successors: Successors | None = None) -> None:
        self.vectors = vectors
        self.successors = successors

    @property
    def track_keys(self) -> list[str]:
        return list(self.vectors.index_to_key)

    @cached_property
    def embedding(self) -> TrackEmbedding:
        """The vectors with their unit vectors and artist index, computed once."""
        return TrackEmbedding(self.vectors)

    def recommender(
        self, strategy: QueryStrategy, seed: int, statistics: TrainStatistics | None, leave_out_played: bool
    ) -> Recommender:
        return EmbeddingRecommender(
            self.embedding, strategy, seed, statistics, self.successors, leave_out_played
        )

    def tutorial_recommender(self, seed: int, statistics: TrainStatistics) -> Recommender:
        """The vectors under the tutorial flow's query (the last track's nearest neighbours)."""
        return EmbeddingRecommender(self.embedding, TUTORIAL_STRATEGY, seed, statistics)

    def as_part(self, strategy: QueryStrategy, seed: int, statistics: TrainStatistics) -> EmbeddingPart:
        """The vectors as a hybrid's part: each playlist's tracks most similar to its query."""
        return EmbeddingPart(self, strategy, seed, statistics)


def word2vec_arrays(model: Word2VecModel) -> dict[str, np.ndarray]:
    """The arrays a model file keeps: the vectors (tracks, dim), the track ids and plays, and
    the successor lists when the model has them."""
    vectors = model.vectors
    arrays = {
        "vectors": np.asarray(vectors.vectors, dtype=np.float32),
        "word2vec_keys": json_array(vectors.index_to_key),
        "word2vec_counts": np.asarray(vectors.expandos.get("count", []), dtype=np.int64),
    }
    if model.successors is not None:
        successors = model.successors
        arrays |= {
            "successor_tracks": json_array(successors.tracks.tolist()),
            "successor_start": successors.start.astype(np.int64),
            "successor_followers": successors.followers.astype(np.int32),
            "successor_counts": successors.counts.astype(np.int32),
        }
    return arrays


def word2vec_from_arrays(
    arrays: Mapping[str, np.ndarray], manifest: Mapping[str, Any], _families
) -> Word2VecModel:
    """The model `word2vec_arrays` wrote; files of formats 2 to 4 kept the track ids and plays in
    their manifest."""
    from gensim.models.keyedvectors import KeyedVectors

    vectors = array(arrays, "vectors")
    if vectors.ndim != 2 or vectors.dtype.kind != "f" or not vectors.shape[1]:
        raise DamagedModelFile(
            f"the array 'vectors' is {vectors.dtype} of shape {vectors.shape},"
            " expected floats of shape (tracks, dimensions)"
        )
    if "word2vec_keys" in arrays:
        keys = json_of_array(arrays["word2vec_keys"])
        counts = vector(arrays, "word2vec_counts", "i", low=0)
    else:
        keys, counts = manifest["keys"], np.asarray(manifest["counts"], dtype=np.int64)
    keys = track_ids(keys, "word2vec_keys", len(vectors), ascending=False).tolist()
    if len(counts) not in (0, len(keys)):
        raise DamagedModelFile(f"the array 'word2vec_counts' has {len(counts)} values, expected {len(keys)}")
    keyed = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    keyed.add_vectors(keys, vectors)
    if len(counts):
        keyed.allocate_vecattrs(attrs=["count"], types=[np.int64])
        keyed.expandos["count"][:] = counts
    successors = None
    if "successor_tracks" in arrays:
        tracks = track_ids(json_of_array(arrays["successor_tracks"]), "successor_tracks")
        followers = vector(arrays, "successor_followers", "i", low=0, high=len(tracks))
        start = vector(arrays, "successor_start", "i", len(tracks) + 1, low=0)
        if start[0] != 0 or start[-1] != len(followers) or (np.diff(start) < 0).any():
            raise DamagedModelFile("the array 'successor_start' does not delimit the successor lists")
        successors = Successors(
            tracks=tracks,
            start=start,
            followers=followers.astype(np.int64),
            counts=vector(arrays, "successor_counts", "i", len(followers), low=1).astype(np.int64),
        )
    return Word2VecModel(keyed, successors)
