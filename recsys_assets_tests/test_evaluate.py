import random

import numpy as np
import pytest

from recsys_assets.core.evaluate import (
    MISSED,
    NextTrackCases,
    embedding_ranks,
    hit_rate,
    popularity_ranks,
)
from recsys_assets.core.train import train_embeddings

rng = random.Random(0)
SENTENCES = [
    [f"t{group * 30 + (start + step) % 30}" for step in range(rng.randrange(4, 30))]
    for group, start in ((rng.randrange(10), rng.randrange(30)) for _ in range(600))
]
VECTORS = train_embeddings(SENTENCES, {"min_count": 3, "epochs": 3, "vector_size": 16}, seed=3)


def gensim_hits(cases: NextTrackCases, k: int, seed: int) -> list[bool]:
    """Hits by the seed flow's semantics: gensim most_similar of the query, fallback as ours."""
    fallback = np.random.default_rng(seed).integers(0, len(VECTORS.index_to_key), len(cases))
    hits = []
    for query, target, fall in zip(cases.queries, cases.targets, fallback, strict=True):
        key = query if query in VECTORS.key_to_index else VECTORS.index_to_key[fall]
        hits.append(target in [t for t, _ in VECTORS.most_similar(key, topn=k)])
    return hits


@pytest.fixture(scope="module")
def cases() -> NextTrackCases:
    inputs = [s[:-1] for s in SENTENCES]
    inputs[0] = ["t1", "never-seen"]
    targets = [s[-1] for s in SENTENCES]
    targets[1] = "also-never-seen"
    targets[2] = inputs[2][-1]
    return NextTrackCases.from_sequences(inputs, targets)


@pytest.mark.parametrize("k", [1, 10, 50])
def test_hits_agree_with_gensim_most_similar_row_by_row(cases: NextTrackCases, k: int):
    ranks = embedding_ranks(VECTORS, cases, seed=9)
    ours = (ranks < k).tolist()
    theirs = gensim_hits(cases, k, seed=9)
    assert np.mean(np.array(ours) == np.array(theirs)) >= 0.999
    assert 0 < sum(theirs) < len(cases), "the check needs both hits and misses"


def test_unrankable_rows_are_misses(cases: NextTrackCases):
    ranks = embedding_ranks(VECTORS, cases, seed=9)
    assert ranks[1] == MISSED, "a held-out track outside the vocabulary cannot be recommended"
    assert ranks[2] == MISSED, "the query track itself is never recommended"


def test_ranks_do_not_depend_on_chunk_size(cases: NextTrackCases):
    progress = []
    small = embedding_ranks(
        VECTORS, cases, seed=9, chunk_bytes=1, on_progress=lambda d, t: progress.append((d, t))
    )
    assert np.array_equal(small, embedding_ranks(VECTORS, cases, seed=9))
    assert progress[-1][0] == progress[-1][1] and len(progress) == progress[-1][1]


def test_out_of_vocabulary_fallback_is_seeded(cases: NextTrackCases):
    oov = NextTrackCases(queries=["nope"] * 40, targets=cases.targets[3:43])
    assert np.array_equal(embedding_ranks(VECTORS, oov, seed=1), embedding_ranks(VECTORS, oov, seed=1))
    assert not np.array_equal(embedding_ranks(VECTORS, oov, seed=1), embedding_ranks(VECTORS, oov, seed=2))


def test_popularity_ranks_follow_train_counts():
    train = [["a", "b", "a"], ["c", "a", "b"]]
    cases = NextTrackCases(queries=["x"] * 4, targets=["a", "b", "c", "z"])
    assert popularity_ranks(train, cases).tolist() == [0, 1, 2, MISSED]


def test_hit_rate_counts_ranks_below_k():
    rate = hit_rate(np.array([0, 4, 5, MISSED]), k=5)
    assert (rate.hits, rate.rows, rate.value) == (2, 4, 0.5)
    assert hit_rate(np.array([], dtype=np.int64), k=5).value == 0.0
