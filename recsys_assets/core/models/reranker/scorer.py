"""The re-ranker: candidate tracks from other fitted models, ordered by a learned ranking of
features of each (playlist, candidate) pair."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_assets.core.data.cases import PlayedTracks
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.data.track_ids import split_track_id
from recsys_assets.core.models.file_checks import DamagedModelFile, array, entry, track_ids, vector
from recsys_assets.core.models.hybrid.scorer import aligned, best_candidates
from recsys_assets.core.models.rules.scorer import fit_rules
from recsys_assets.core.models.sparse import SCORE_DECIMALS, TrackScorer
from recsys_assets.core.models.sparse_files import (
    json_array,
    json_of_array,
    matrix_arrays,
    matrix_from_arrays,
    read_layout,
)

PART_FEATURES = ("score", "place")
"""What each candidate generator says of a candidate: its row-normalised score (0 where it did not
propose it) and its place among the generator's candidates (the candidates per part where not)."""
TRACK_FEATURES = (
    "log_plays",
    "log_artist_plays",
    "share_of_artist_plays",
    "in_playlist",
    "same_artist_as_last",
    "artist_share_of_playlist",
    "artist_in_last_3",
    "artist_follows_last_5",
    "artist_follows_playlist",
    "log_playlist_length",
)
"""What the candidate and the playlist say without a model: the candidate's plays in training,
its artist's, its share of them, whether the playlist holds it, whether its artist is the last
input track's, the share of the playlist's tracks by its artist, whether its artist is among the
last 3 input tracks', how strongly its artist followed the artists of the last 5 input tracks
and of the whole playlist in training (`artist_transitions`, row-normalised), and the
playlist's length."""
ARTIST_STEPS = 10
"""Artist transitions count artists up to this many places apart, weighted 1/distance."""


def feature_names(parts: int) -> list[str]:
    """The columns of `CandidateFeatures.features` for a model of `parts` generators."""
    return [f"part{number}_{name}" for number in range(parts) for name in PART_FEATURES] + list(
        TRACK_FEATURES
    )


def artists_of(tracks: Sequence[str]) -> np.ndarray:
    """The artist name each track id was built from; shape (len(tracks),), dtype object."""
    return np.asarray([split_track_id(str(track))[0] for track in tracks], dtype=object)


def places_in_rows(matrix: sp.csr_matrix) -> np.ndarray:
    """Each entry's 0-based place in its row by descending value (ties: the smaller index);
    shape (entries,)."""
    row_of = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = np.lexsort((matrix.indices, -matrix.data, row_of))
    places = np.empty(matrix.nnz, dtype=np.int64)
    places[order] = np.arange(matrix.nnz) - matrix.indptr[row_of[order]]
    return places


@dataclass(frozen=True)
class CandidateFeatures:
    """Candidates for playlists, each part's best `per_part` tracks per playlist, and their
    features (`feature_names`), from `parts` fitted on the training tracks of `statistics`.

    `artist_codes` (tracks,) is each training track's index in `artist_names` (sorted, distinct).
    """

    parts: tuple[TrackScorer, ...]
    statistics: TrainStatistics
    per_part: int
    artist_names: np.ndarray
    artist_codes: np.ndarray
    artist_transitions: sp.csr_matrix
    """(artists, artists): how often, weighted 1/distance, artist b followed artist a within
    `ARTIST_STEPS` places of the training playlists."""

    @classmethod
    def of_playlists(
        cls,
        parts: tuple[TrackScorer, ...],
        statistics: TrainStatistics,
        per_part: int,
        codes: np.ndarray,
        lengths: np.ndarray,
    ) -> CandidateFeatures:
        """The features of `parts` fitted on the training playlists (`codes` (words,) and
        `lengths` (playlists,)), with the artists read from the training tracks' ids."""
        names, artist_codes = np.unique(artists_of(statistics.tracks), return_inverse=True)
        artist_codes = artist_codes.astype(np.int32)
        transitions = fit_rules(artist_codes[codes], lengths, len(names), ARTIST_STEPS, "div")
        return cls(parts, statistics, per_part, names, artist_codes, transitions)

    @cached_property
    def _artist_plays(self) -> np.ndarray:
        return np.bincount(self.artist_codes, weights=self.statistics.plays, minlength=len(self.artist_names))

    def artist_codes_of(self, tracks: Sequence[str]) -> np.ndarray:
        """The artist index of each track id, -1 for an artist unseen in training; shape (tracks,)."""
        names = artists_of(tracks)
        if not len(self.artist_names) or not len(names):
            return np.full(len(names), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.artist_names, names), len(self.artist_names) - 1)
        return np.where(self.artist_names[at] == names, at, -1)

    def features(self, inputs: Sequence[Sequence[str]]) -> tuple[sp.csr_matrix, np.ndarray]:
        """The candidates of each playlist of `inputs`, a pattern (playlists, tracks) whose
        entries, indices sorted, are the candidates, and their features (entries, features)."""
        proposed = [best_candidates(part.scores(inputs), self.per_part) for part in self.parts]
        union, scores = aligned(proposed)
        rows = np.repeat(np.arange(len(inputs)), np.diff(union.indptr))
        tracks = union.indices
        columns = []
        for part, part_scores in zip(proposed, scores, strict=True):
            places = np.full(union.nnz, float(self.per_part))
            key_of = rows * union.shape[1] + tracks
            part_rows = np.repeat(np.arange(len(inputs)), np.diff(part.indptr))
            at = np.searchsorted(key_of, part_rows * union.shape[1] + part.indices)
            places[at] = places_in_rows(part)
            columns += [part_scores, places]

        plays = self.statistics.plays.astype(np.float64)
        artist = self.artist_codes[tracks]
        artist_plays = self._artist_plays[artist]
        lengths = np.fromiter((len(tracks) for tracks in inputs), dtype=np.int64, count=len(inputs))
        input_rows = np.repeat(np.arange(len(inputs)), lengths)
        input_artists = self.artist_codes_of([track for playlist in inputs for track in playlist])
        width = len(self.artist_names) + 1
        artist_keys, artist_counts = np.unique(input_rows * width + input_artists + 1, return_counts=True)
        wanted = rows * width + artist + 1
        at = np.minimum(np.searchsorted(artist_keys, wanted), max(len(artist_keys) - 1, 0))
        count = np.where(artist_keys[at] == wanted, artist_counts[at], 0) if len(artist_keys) else 0
        ends = np.cumsum(lengths)
        recent = np.zeros(len(input_rows), dtype=bool)
        for back in range(1, 4):
            recent[(ends - back)[lengths >= back]] = True
        recent_keys = np.unique((input_rows * width + input_artists + 1)[recent & (input_artists >= 0)])
        from_end = (ends[input_rows] - np.arange(len(input_rows))).astype(np.float64)
        last_artist = np.full(len(inputs), -2, dtype=np.int64)
        last_artist[lengths > 0] = input_artists[ends[lengths > 0] - 1]
        follows = [
            self._artist_scores(input_rows, input_artists, len(inputs), weights, rows, artist)
            for weights in (np.where(from_end <= 5, 1.0 / from_end, 0.0), np.ones(len(input_rows)))
        ]
        columns += [
            np.log1p(plays[tracks]),
            np.log1p(artist_plays),
            plays[tracks] / np.maximum(artist_plays, 1),
            PlayedTracks(inputs, self.statistics.index_of).holds(rows, tracks),
            artist == last_artist[rows],
            count / np.maximum(lengths[rows], 1),
            np.isin(wanted, recent_keys),
            *follows,
            np.log1p(lengths[rows]),
        ]
        return union, np.column_stack(columns).astype(np.float32)

    def _artist_scores(
        self,
        input_rows: np.ndarray,
        input_artists: np.ndarray,
        playlists: int,
        weights: np.ndarray,
        rows: np.ndarray,
        artists: np.ndarray,
    ) -> np.ndarray:
        """How strongly artist `artists[i]` followed the input artists of row `rows[i]`, each
        input weighted by `weights`, divided by the row's largest; shape (len(rows),)."""
        used = (input_artists >= 0) & (weights > 0)
        query = sp.csr_matrix(
            (weights[used], (input_rows[used], input_artists[used])),
            shape=(playlists, len(self.artist_names)),
        )
        scored = (query @ self.artist_transitions).tocsr()
        scored.sum_duplicates()
        scored.sort_indices()
        row_of = np.repeat(np.arange(playlists), np.diff(scored.indptr))
        largest = np.ones(playlists)
        filled = np.diff(scored.indptr) > 0
        largest[filled] = np.maximum.reduceat(scored.data, scored.indptr[:-1][filled])
        keys = row_of * len(self.artist_names) + scored.indices
        wanted = rows * len(self.artist_names) + np.maximum(artists, 0)
        at = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        found = (keys[at] == wanted) & (artists >= 0) if len(keys) else np.zeros(len(rows), dtype=bool)
        return np.where(found, scored.data[at] / largest[rows], 0.0)


@dataclass(frozen=True)
class Reranker(TrackScorer):
    """`candidates` re-ordered by `booster` (a LightGBM ranking model over their features): a
    candidate scores 1 plus its predicted relevance above the row's least relevant candidate, so
    every candidate is scored and the order is the booster's."""

    score_kind: ClassVar[str] = "re-ranked relevance"
    family_name: ClassVar[str] = "reranker"

    candidates: CandidateFeatures
    booster: Any
    rows_per_batch: int = 256

    @property
    def statistics(self) -> TrainStatistics:
        return self.candidates.statistics

    @property
    def parts(self) -> tuple[TrackScorer, ...]:
        return self.candidates.parts

    def scores(self, inputs: Sequence[Sequence[str]]) -> sp.csr_matrix:
        union, features = self.candidates.features(inputs)
        if not union.nnz:
            return union
        relevance = self.booster.predict(features, num_threads=1)
        rows = np.repeat(np.arange(union.shape[0]), np.diff(union.indptr))
        filled = np.diff(union.indptr) > 0
        lowest = np.zeros(union.shape[0])
        lowest[filled] = np.minimum.reduceat(relevance, union.indptr[:-1][filled])
        union.data = np.round(1.0 + relevance - lowest[rows], SCORE_DECIMALS)
        return union

    def file_layout(self) -> dict[str, Any]:
        return {
            "family": self.family_name,
            "per_part": self.candidates.per_part,
            "parts": [part.file_layout() for part in self.parts],
        }

    def file_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        candidates = self.candidates
        return {
            f"{prefix}booster": np.frombuffer(self.booster.model_to_string().encode("utf-8"), dtype=np.uint8),
            f"{prefix}artist_names": json_array(candidates.artist_names.tolist()),
            f"{prefix}artist_codes": candidates.artist_codes.astype(np.int32),
            **matrix_arrays(f"{prefix}artist_transitions_", candidates.artist_transitions, values=True),
            **{
                name: array
                for number, part in enumerate(self.parts)
                for name, array in part.file_arrays(f"{prefix}part{number}_").items()
            },
        }

    def describe(self, reached: int, tracks: Sequence[str]) -> str:
        return (
            f"{reached} candidate track(s) of {len(self.parts)} models ordered by the re-ranker's trees"
            " (score: the trees' relevance above the least relevant candidate's, plus 1), then the"
            " most played"
        )


def read_reranker(
    layout: Mapping[str, Any],
    prefix: str,
    arrays: Mapping[str, np.ndarray],
    statistics: TrainStatistics,
    families: Mapping[str, Any],
) -> Reranker:
    """The re-ranker `Reranker.file_layout` and `file_arrays` wrote under `prefix`."""
    import lightgbm

    parts = tuple(
        read_layout(part, f"{prefix}part{number}_", arrays, statistics, families)
        for number, part in enumerate(entry(layout, "parts", list))
    )
    names = track_ids(json_of_array(array(arrays, f"{prefix}artist_names")), f"{prefix}artist_names")
    artists = len(names)
    candidates = CandidateFeatures(
        parts,
        statistics,
        entry(layout, "per_part", int, low=1),
        names,
        vector(arrays, f"{prefix}artist_codes", "i", len(statistics.tracks), low=0, high=artists),
        matrix_from_arrays(
            f"{prefix}artist_transitions_", arrays, values=True, rows=artists, columns=artists
        ),
    )
    try:
        booster = lightgbm.Booster(model_str=array(arrays, f"{prefix}booster").tobytes().decode("utf-8"))
    except lightgbm.basic.LightGBMError as error:
        raise DamagedModelFile(f"the re-ranker's trees do not read ({error})") from None
    expected = len(feature_names(len(parts)))
    if booster.num_feature() != expected:
        raise DamagedModelFile(
            f"the re-ranker's trees read {booster.num_feature()} features, expected {expected}"
        )
    return Reranker(candidates, booster)
