"""The training corpus: playlists as lines of integer track codes, the file gensim's
`corpus_file` mode trains from, written once per data build and shared by every config."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gensim.models.word2vec import MAX_WORDS_IN_BATCH

from recsys_assets.core.search_space import MAX_WINDOW

MAX_SENTENCE_LENGTH = MAX_WORDS_IN_BATCH
"""gensim's C training loop reads at most this many words of a sentence; the rest never train."""
PIECE_OVERLAP = MAX_WINDOW
"""Tracks shared by consecutive pieces of a playlist longer than `MAX_SENTENCE_LENGTH`: the
largest window a config may have, so every track trains with its whole context."""
CORPUS_FILE = "corpus.txt"
CORPUS_MANIFEST = "corpus.json"
MANIFEST_FIELDS = ("lines", "words", "long_playlists")


@dataclass(frozen=True)
class Corpus:
    """The training playlists as gensim's `corpus_file` input, shared by every config of a data
    build: one line per playlist (or piece of a long one) of track codes separated by spaces.

    For n training tracks, code i is `tracks[i]` (n,), played `plays[i]` (n,) times in the
    playlists; the file holds `lines` lines and `words` codes, and `long_playlists` playlists
    were cut into pieces.
    """

    path: Path
    tracks: np.ndarray
    plays: np.ndarray
    lines: int
    words: int
    long_playlists: int

    def manifest(self) -> dict[str, int]:
        """What the corpus file's manifest (`CORPUS_MANIFEST`) records about it."""
        return {"lines": self.lines, "words": self.words, "long_playlists": self.long_playlists}


def piece_starts(length: int) -> range:
    """Where the pieces of a playlist of `length` tracks start: one piece when it fits gensim's
    limit, else pieces of `MAX_SENTENCE_LENGTH` overlapping by `PIECE_OVERLAP`."""
    if length <= MAX_SENTENCE_LENGTH:
        return range(1)
    return range(0, length - PIECE_OVERLAP, MAX_SENTENCE_LENGTH - PIECE_OVERLAP)


def write_corpus(sentences: Sequence[Sequence[str]], folder: Path) -> Corpus:
    """Write `sentences` as a corpus file and its manifest in `folder`; codes number the tracks in
    sorted order. The in-memory counterpart of `playlists.write_train_counts`."""
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


def read_corpus_manifest(folder: Path) -> dict[str, int]:
    """The manifest `write_corpus` or `playlists.write_train_counts` wrote beside a corpus file;
    ValueError naming the file when it is not one."""
    path = folder / CORPUS_MANIFEST
    try:
        manifest = json.loads(path.read_text())
        if sorted(manifest) != sorted(MANIFEST_FIELDS) or not all(
            isinstance(manifest[name], int) and manifest[name] >= 0 for name in MANIFEST_FIELDS
        ):
            raise ValueError
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{path}: expected a JSON object of the counts {', '.join(MANIFEST_FIELDS)} (whole numbers);"
            " rebuild the data assets to write it again"
        ) from error
    return manifest
