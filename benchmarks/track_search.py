"""Track search by words: the name index against a scan of every name per query.

Usage: python benchmarks/track_search.py [--tracks 7000] [--queries 3000]
Prints both times, the speed-up and whether both found the same tracks.
"""

import argparse
import time

import numpy as np
from gensim.models.keyedvectors import KeyedVectors

from recsys_assets.core.data.track_ids import split_track_id
from recsys_assets.core.data.track_names import TrackNameIndex

WORDS = ["blue", "river", "night", "fire", "song", "dream", "gold", "heart"]
WORDS += ["moon", "rain", "road", "sky", "time", "water", "wind", "world"]


def scan(vectors: KeyedVectors, text: str, limit: int) -> list[str]:
    """The baseline: split and lowercase every name for every query."""
    words = text.lower().split()
    found = []
    for key in vectors.index_to_key:
        haystack = " ".join(split_track_id(key)).lower()
        if all(word in haystack for word in words):
            found.append(key)
            if len(found) >= limit:
                break
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=7_000)
    parser.add_argument("--queries", type=int, default=3_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    keys = [
        f"{WORDS[i % 16].title()} Artist {i % 97}|||{WORDS[(i * 7) % 16].title()} {WORDS[(i * 3) % 16]} {i}"
        for i in range(args.tracks)
    ]
    vectors = KeyedVectors(vector_size=4)
    vectors.add_vectors(keys, rng.random((len(keys), 4), dtype=np.float32))
    queries = [f"{rng.choice(WORDS)} {rng.integers(0, args.tracks)}" for _ in range(args.queries)]

    started = time.perf_counter()
    scanned = [scan(vectors, query, 11) for query in queries]
    scan_seconds = time.perf_counter() - started
    started = time.perf_counter()
    index = TrackNameIndex(vectors.index_to_key)
    indexed = [index.search(query, 11) for query in queries]
    index_seconds = time.perf_counter() - started
    print(f"{args.queries} word queries over {args.tracks} tracks")
    print(f"  scan of every name: {scan_seconds:8.2f} s")
    print(f"  name index:         {index_seconds:8.2f} s (building it included)")
    print(f"  speed-up: {scan_seconds / index_seconds:.1f}x; same results: {scanned == indexed}")


if __name__ == "__main__":
    main()
