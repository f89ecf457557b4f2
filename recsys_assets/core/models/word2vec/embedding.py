"""Track vectors with what every query needs, computed once: unit vectors, ids and artists."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from recsys_assets.core.data.track_ids import split_track_id

if TYPE_CHECKING:
    from gensim.models.keyedvectors import KeyedVectors


class TrackEmbedding:
    """A trained model's track vectors (gensim `KeyedVectors`) and the arrays its queries read.

    For n tracks of dimension d: `unit` (n, d) holds the unit-normalised vectors, `counts` (n,)
    each track's plays in training, `artist_tracks` maps an artist to its tracks' indices. Each
    is computed on first use and kept, as gensim keeps its norms.
    """

    def __init__(self, vectors: KeyedVectors) -> None:
        self.vectors = vectors
        self.keys: list[str] = vectors.index_to_key
        self.key_to_index: dict[str, int] = vectors.key_to_index

    def __len__(self) -> int:
        return len(self.keys)

    @cached_property
    def unit(self) -> np.ndarray:
        """The unit-normalised vectors, shape (n, d)."""
        return self.vectors.get_normed_vectors()

    @cached_property
    def counts(self) -> np.ndarray:
        """Each track's plays in the training playlists, shape (n,)."""
        return np.asarray(self.vectors.expandos["count"])

    @cached_property
    def artist_tracks(self) -> dict[str, np.ndarray]:
        """The indices of each artist's tracks, read from the track ids."""
        groups: dict[str, list[int]] = {}
        for index, key in enumerate(self.keys):
            groups.setdefault(split_track_id(key)[0], []).append(index)
        return {artist: np.array(indices) for artist, indices in groups.items()}

    def index_of(self, keys: Sequence[str]) -> np.ndarray:
        """The index of each key, -1 where the model does not know it; shape (len(keys),)."""
        return np.fromiter((self.key_to_index.get(key, -1) for key in keys), dtype=np.int64, count=len(keys))
