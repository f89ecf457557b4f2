"""Reference answers in plain Python, for tests of the SQL and numpy code that count the same."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.corpus import (
    CORPUS_FILE,
    CORPUS_MANIFEST,
    MAX_SENTENCE_LENGTH,
    PIECE_OVERLAP,
    Corpus,
)
from recsys_assets.core.data.statistics import TrainStatistics


def statistics_of(track_sequences: Sequence[Sequence[str]]) -> TrainStatistics:
    """The statistics of the training playlists' track sequences, counted in Python."""
    lengths = np.fromiter((len(s) for s in track_sequences), dtype=np.int64, count=len(track_sequences))
    tokens = np.fromiter(chain.from_iterable(track_sequences), dtype=object, count=int(lengths.sum()))
    codes, tracks = pd.factorize(tokens, sort=True)
    n = len(tracks)
    continues = np.ones(len(codes), dtype=bool)
    continues[np.cumsum(lengths) - 1] = False
    pairs = codes[:-1][continues[:-1]].astype(np.int64) * n + codes[1:][continues[:-1]]
    pair_keys, pair_counts = np.unique(pairs, return_counts=True)
    sources, followers = np.divmod(pair_keys, n)
    return TrainStatistics.from_counts(
        tracks, np.bincount(codes, minlength=n), sources, followers, pair_counts
    )


def piece_starts(length: int) -> range:
    """Where the pieces of a playlist of `length` tracks start: one piece when it fits gensim's
    limit, else pieces of `MAX_SENTENCE_LENGTH` overlapping by `PIECE_OVERLAP`."""
    if length <= MAX_SENTENCE_LENGTH:
        return range(1)
    return range(0, length - PIECE_OVERLAP, MAX_SENTENCE_LENGTH - PIECE_OVERLAP)


def corpus_of(sentences: Sequence[Sequence[str]], folder: Path) -> Corpus:
    """Write `sentences` as a corpus file and its manifest in `folder`; codes number the tracks in
    sorted order. The Python counterpart of `training_files.write_training_files`."""
    tracks, inverse = np.unique(
        np.array([t for s in sentences for t in s], dtype=object), return_inverse=True
    )
    folder.mkdir(parents=True, exist_ok=True)
    path, lines, words, long_playlists, position = folder / CORPUS_FILE, 0, 0, 0, 0
    with open(path, "w", encoding="ascii") as file:
        for sentence in sentences:
            codes = inverse[position : position + len(sentence)]
            position += len(sentence)
            long_playlists += len(sentence) > MAX_SENTENCE_LENGTH
            for start in piece_starts(len(sentence)):
                piece = codes[start : start + MAX_SENTENCE_LENGTH]
                file.write(" ".join(map(str, piece)) + "\n")
                lines, words = lines + 1, words + len(piece)
    corpus = Corpus(path, tracks, np.bincount(inverse, minlength=len(tracks)), lines, words, long_playlists)
    (folder / CORPUS_MANIFEST).write_text(json.dumps(corpus.manifest()))
    return corpus


def random_playlists(seed: int, playlists: int = 40, tracks: int = 25) -> list[list[str]]:
    """Seeded playlists of 3 to 11 tracks drawn from `tracks` ids (repeats allowed)."""
    rng = np.random.default_rng(seed)
    return [
        [f"t{int(i):02d}" for i in rng.integers(0, tracks, rng.integers(3, 12))] for _ in range(playlists)
    ]


def codes_of(
    playlists: Sequence[Sequence[str]], statistics: TrainStatistics
) -> tuple[np.ndarray, np.ndarray]:
    """The playlists' track indices into `statistics.tracks` one after another, and their lengths."""
    codes = statistics.index_of([track for playlist in playlists for track in playlist])
    return codes, np.array([len(playlist) for playlist in playlists])


def next_track_cases(playlists: Sequence[Sequence[str]]) -> EvaluationCases:
    """Each playlist's tracks but the last as input, the last as the held-out track."""
    return EvaluationCases(
        inputs=[list(p[:-1]) for p in playlists],
        last_artists=["a"] * len(playlists),
        targets=[p[-1] for p in playlists],
    )
