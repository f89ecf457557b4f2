"""The training corpus: playlists as lines of integer track codes, the file gensim's
`corpus_file` mode trains from, written once per data build and shared by every config."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_WINDOW = 1000
"""The largest Word2Vec window a config may set."""
MAX_SENTENCE_LENGTH = 10_000
"""gensim's C training loop reads at most this many words of a sentence (its MAX_WORDS_IN_BATCH,
which a test checks); the rest never train. Kept here so reading data never loads gensim."""
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


def read_corpus_manifest(folder: Path) -> dict[str, int]:
    """The manifest `training_files.write_training_files` wrote beside a corpus file;
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


def corpus_codes(corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:
    """The corpus file's track codes one line after another, shape (words,), and each line's
    length, shape (lines,). A playlist cut into pieces reads as its pieces."""
    data = corpus.path.read_bytes()
    codes = np.array(data.split(), dtype=np.int32)
    text = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(text == ord("\n"))
    separators = np.concatenate([[0], np.cumsum(text == ord(" "))])
    spaces = np.diff(np.concatenate([[0], separators[ends]]))
    lengths = spaces + 1
    if lengths.sum() != len(codes) or len(lengths) != corpus.lines:
        raise ValueError(
            f"{corpus.path}: expected {corpus.lines} lines of codes separated by single spaces;"
            " rebuild the data assets to write it again"
        )
    return codes, lengths
