"""The training corpus: playlists as lines of integer track codes, the file gensim's
`corpus_file` mode trains from, written once per data build and shared by every config."""

from __future__ import annotations

import json
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
