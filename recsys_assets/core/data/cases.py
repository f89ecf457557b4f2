"""Evaluation cases: a playlist's input tracks and the held-out track that followed them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CASE_COLUMNS = ("track_test_x", "artist_sequence", "track_test_y")
"""The playlist table's columns an evaluation reads."""
MISSED = np.iinfo(np.int64).max
"""Rank of a held-out track that cannot be recommended (unknown, or the query itself)."""


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

    @classmethod
    def from_frame(cls, frame: Any) -> EvaluationCases:
        """Cases from a frame (pandas or a DuckDB result's `fetch_df`) with the `CASE_COLUMNS`."""
        return cls.from_columns(*(frame[column] for column in CASE_COLUMNS))

    def __len__(self) -> int:
        return len(self.targets)
