"""Batched exact evaluation against the per-row gensim `most_similar` loop, at Spotify scale.

Builds a clustered 48-dimensional model of 300 k tracks and 40 k validation rows (about 45 % of
query tracks and 30 % of held-out tracks out of vocabulary, as on the real data), then prints
rows per second of both, the speed-up, agreement, achieved GFLOP/s against a plain matrix
multiply in the same process, extra memory, and the hit rate of every query strategy.

    python benchmarks/evaluation.py [--vocabulary 300000] [--rows 40000] [--loop-rows 2000]
"""

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from gensim.models.keyedvectors import KeyedVectors

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.training_files import training_data_of
from recsys_assets.core.evaluation.metrics import ranking_metrics
from recsys_assets.core.models.baselines import baselines
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.ranking import SCREEN_TRACKS, embedding_rankings, embedding_ranks
from recsys_assets.core.models.word2vec.strategies import EMBEDDING_STRATEGIES

TRACKS_PER_ARTIST = 10
ARTISTS_PER_CLUSTER = 30


def track(index: int) -> str:
    return f"artist{index // TRACKS_PER_ARTIST}|||track{index}"


def build(vocabulary: int, rows: int, dimensions: int, seed: int):
    """A clustered model, train sequences over it, and evaluation cases with realistic OOV shares."""
    rng = np.random.default_rng(seed)
    cluster_size = TRACKS_PER_ARTIST * ARTISTS_PER_CLUSTER
    clusters = vocabulary // cluster_size
    centres = rng.standard_normal((clusters, dimensions)).astype(np.float32)
    vectors = centres[np.arange(vocabulary) // cluster_size] + rng.standard_normal(
        (vocabulary, dimensions), dtype=np.float32
    )
    keyed = KeyedVectors(dimensions, count=0, dtype=np.float32)
    keyed.add_vectors([track(i) for i in range(vocabulary)], vectors)

    def walk(size: int, length: int) -> np.ndarray:
        cluster = rng.integers(0, clusters, size)[:, None]
        within = np.minimum(rng.zipf(1.3, (size, length)) - 1, cluster_size - 1)
        return cluster * cluster_size + within

    train = walk(rows * 5, 12)
    sequences = [[track(i) for i in row] for row in train.tolist()]
    statistics = training_data_of(sequences, Path(tempfile.mkdtemp(prefix="recsys-bench-"))).statistics

    walks = walk(rows, 6)
    inputs = [[track(i) for i in row[:-1]] for row in walks.tolist()]
    targets = [track(row[-1]) for row in walks.tolist()]
    unknown_query = rng.random(rows) < 0.45
    unknown_target = rng.random(rows) < 0.30
    last_artists = [seq[-1].split("|||")[0] for seq in inputs]
    for row in np.flatnonzero(unknown_query):
        inputs[row][-1] = f"{last_artists[row]}|||unseen{row}"
    for row in np.flatnonzero(unknown_target):
        targets[row] = f"unseen|||target{row}"
    return keyed, statistics, EvaluationCases(inputs=inputs, last_artists=last_artists, targets=targets)


def per_row_hits(vectors: KeyedVectors, cases: EvaluationCases, rows: np.ndarray, k: int, seed: int):
    """The seed's loop: most_similar of the last track, seeded random fallback for unknown ones."""
    fallback = np.random.default_rng(seed).integers(0, len(vectors.index_to_key), len(cases))
    hits = []
    for row in rows:
        query = cases.inputs[row][-1]
        if query not in vectors.key_to_index:
            query = vectors.index_to_key[fallback[row]]
        hits.append(cases.targets[row] in {t for t, _ in vectors.most_similar(query, topn=k)})
    return np.array(hits)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vocabulary", type=int, default=300_000)
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--dimensions", type=int, default=48)
    parser.add_argument("--loop-rows", type=int, default=2_000, help="rows timed in the per-row loop")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the batched core")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    started = time.perf_counter()
    vectors, statistics, cases = build(args.vocabulary, args.rows, args.dimensions, args.seed)
    vectors.fill_norms()
    embedding = TrackEmbedding(vectors)
    print(
        f"model: {args.vocabulary} tracks x {args.dimensions} dims, {len(cases)} rows,"
        f" built in {time.perf_counter() - started:.1f} s"
    )

    sample = np.random.default_rng(0).choice(len(cases), size=min(args.loop_rows, len(cases)), replace=False)
    started = time.perf_counter()
    loop_hits = per_row_hits(vectors, cases, sample, args.k, args.seed)
    loop_rate = len(sample) / (time.perf_counter() - started)
    print(f"per-row most_similar loop: {loop_rate:,.0f} rows/s ({len(sample)} rows timed)")

    timings = []
    phases: dict[str, int] = {}
    for _ in range(args.repeats):
        started = time.perf_counter()
        ranking = embedding_ranks(
            embedding, cases, seed=args.seed, top_k=args.k, on_progress=lambda p, d, t: phases.update({p: t})
        )
        timings.append(time.perf_counter() - started)
    batched_seconds = float(np.median(timings))
    tracemalloc.start()
    embedding_ranks(embedding, cases, seed=args.seed, top_k=args.k)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    batched_rate = len(cases) / batched_seconds
    agreement = np.mean((ranking.ranks[sample] < args.k) == loop_hits)
    ranked_rows = int(np.count_nonzero(ranking.target_in_vocabulary))
    flops = 2.0 * args.dimensions * args.vocabulary * ranked_rows
    print(
        f"batched core: {batched_rate:,.0f} rows/s (median of {args.repeats}: {batched_seconds:.1f} s for"
        f" {len(cases)} rows, {ranked_rows} with a rankable held-out track; runs"
        f" {', '.join(f'{t:.1f}' for t in timings)} s)"
    )
    print(f"speed-up: {batched_rate / loop_rate:.1f}x   agreement with the loop: {agreement:.4%}")

    started = time.perf_counter()

    unit = embedding.unit
    block = unit[:1024]
    block @ unit.T
    started = time.perf_counter()
    block @ unit.T
    blas = 2.0 * args.dimensions * args.vocabulary * len(block) / (time.perf_counter() - started) / 1e9
    effective = flops / batched_seconds / 1e9
    screened = phases.get("screened queries", 0) * (
        args.vocabulary // max(2, args.vocabulary // SCREEN_TRACKS)
    )
    performed = 2.0 * args.dimensions * (screened + phases["fully scored queries"] * args.vocabulary)
    achieved = performed / batched_seconds / 1e9
    print(
        f"GFLOP/s: plain matrix multiply {blas:.1f}; core achieved {achieved:.1f} on the multiplies it does"
        f" ({achieved / blas:.2f} of plain, everything else included), effective {effective:.1f} counting"
        f" 2·d·V per rankable row ({phases.get('screened queries', 0)} distinct queries screened,"
        f" {phases['fully scored queries']} fully scored)"
    )
    print(
        f"extra memory of the batched core (tracemalloc peak): {peak / 2**20:,.0f} MiB;"
        f" process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MiB"
    )

    print(f"\nhit rate@{args.k} by strategy (validation rows as above):")
    started = time.perf_counter()
    alone = [
        embedding_ranks(embedding, cases, seed=args.seed, strategy=strategy, train=statistics, top_k=args.k)
        for strategy in EMBEDDING_STRATEGIES
    ]
    alone_seconds = time.perf_counter() - started
    started = time.perf_counter()
    together = embedding_rankings(
        embedding, cases, args.seed, EMBEDDING_STRATEGIES, train=statistics, top_k=args.k
    )
    together_seconds = time.perf_counter() - started
    for strategy, ranking, shared in zip(EMBEDDING_STRATEGIES, alone, together, strict=True):
        rate = ranking_metrics(ranking.ranks, args.k)[f"hit_rate@{args.k}"]
        same = "same" if np.array_equal(ranking.ranks, shared.ranks) else "DIFFERENT"
        print(
            f"  query={strategy.query:<12} cold_start={strategy.cold_start:<8} {rate:.4f}"
            f"  ranked together: {same}"
        )
    cold = float(np.mean(~together[0].query_in_vocabulary))
    print(
        f"  the {len(EMBEDDING_STRATEGIES)} strategies one by one: {alone_seconds:.1f} s; together, each"
        f" distinct query once: {together_seconds:.1f} s ({alone_seconds / together_seconds:.2f}x;"
        f" {cold:.1%} of rows have an unknown last track)"
    )
    for name, recommender in baselines(statistics).items():
        ranks = recommender.rank(cases, args.k).ranks
        print(f"  baseline {name:<33} {ranking_metrics(ranks, args.k)[f'hit_rate@{args.k}']:.4f}")


if __name__ == "__main__":
    main()
