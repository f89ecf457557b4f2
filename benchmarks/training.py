"""One trial's training at Spotify scale: from the shared corpus file against from lists in memory.

Builds the demo data's tables, writes the training files once (counts and corpus file, as the data
build does), then trains one config both ways in this process: the previous path (read the train
split into lists of str, gensim scans them for the vocabulary, trains on the lists) and the
current one (vocabulary from the stored counts, training on the corpus file). Prints each part's
seconds, the ratio, each path's peak memory (each runs in a fresh process) and the validation
hit rate@100 of what it trained.

    python benchmarks/training.py [--size spotify] [--workers 2] [--epochs 5] [--min-count 10]
"""

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
from gensim.models.keyedvectors import KeyedVectors
from gensim.models.word2vec import Word2Vec
from measure import in_fresh_process, peak_mib

from recsys_assets.core.data.corpus import CORPUS_FILE, Corpus, read_corpus_manifest
from recsys_assets.core.data.demo_data import DEMO_SIZES, write_demo_rows
from recsys_assets.core.data.playlists import build_playlist_tables, evaluation_cases
from recsys_assets.core.data.training_files import read_train_statistics, write_training_files
from recsys_assets.core.evaluation.evaluator import evaluate
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.recommender import EmbeddingRecommender
from recsys_assets.core.models.word2vec.strategies import TUTORIAL_STRATEGY
from recsys_assets.core.models.word2vec.train import train_embeddings


def prepare(size: str, work: Path) -> tuple[float, float]:
    """Build the tables and the training files; return the build's and the files' seconds."""
    source = write_demo_rows(work / "demo", DEMO_SIZES[size])
    database = work / f"{size}.duckdb"
    database.unlink(missing_ok=True)
    with duckdb.connect(str(database)) as conn:
        conn.execute("SET enable_progress_bar = false")
        started = time.perf_counter()
        build_playlist_tables(conn, source, seed=42)
        built = time.perf_counter()
        write_training_files(conn, work / "training")
    return built - started, time.perf_counter() - built


def validation_hit_rate(vectors: KeyedVectors, database: Path, folder: Path) -> float:
    """Hit rate@100 on the validate split under the seed's query strategy."""
    with duckdb.connect(str(database), read_only=True) as conn:
        conn.execute("SET enable_progress_bar = false")
        cases = evaluation_cases(conn, "validate_playlists")
    statistics = read_train_statistics(str(folder))
    metrics = evaluate(
        EmbeddingRecommender(TrackEmbedding(vectors), TUTORIAL_STRATEGY, 42, statistics), cases, k=100
    )
    return metrics["hit_rate@100"]


def from_lists(database: Path, params: dict, workers: int) -> dict[str, float]:
    """The previous path: the split read into lists, gensim's vocabulary scan, training on lists."""
    started = time.perf_counter()
    with duckdb.connect(str(database), read_only=True) as conn:
        conn.execute("SET enable_progress_bar = false")
        rows = conn.execute("SELECT track_sequence FROM train_playlists ORDER BY playlist_id").fetchall()
    sentences = [[str(track) for track in row[0]] for row in rows]
    read = time.perf_counter()
    model = Word2Vec(seed=42, workers=workers, **params)
    model.build_vocab(sentences)
    vocabulary = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=model.epochs)
    done = time.perf_counter()
    return {
        "read": read - started,
        "vocabulary": vocabulary - read,
        "train": done - vocabulary,
        "peak MiB": peak_mib(),
        "hit rate": validation_hit_rate(model.wv, database, database.parent / "training"),
    }


def from_corpus(database: Path, params: dict, workers: int) -> dict[str, float]:
    """The current path: the stored counts and corpus file, one `train_embeddings` call."""
    folder = database.parent / "training"
    started = time.perf_counter()
    statistics = read_train_statistics(str(folder))
    manifest = read_corpus_manifest(folder)
    corpus = Corpus(folder / CORPUS_FILE, statistics.tracks, statistics.plays, **manifest)
    read = time.perf_counter()
    vectors = train_embeddings(corpus, params, seed=42, workers=workers)
    done = time.perf_counter()
    return {
        "read": read - started,
        "vocabulary + train": done - read,
        "peak MiB": peak_mib(),
        "hit rate": validation_hit_rate(vectors, database, folder),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="spotify", choices=sorted(DEMO_SIZES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=10)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="recsys-training-"))
    work.mkdir(parents=True, exist_ok=True)
    params = {"min_count": args.min_count, "epochs": args.epochs, "vector_size": 48, "window": 10}

    build, files = in_fresh_process(prepare, args.size, work)
    print(f"tables {build:.1f} s; training files (counts and corpus) {files:.1f} s, once per data build")
    print(f"one config {params}, {args.workers} worker(s):")
    lists = in_fresh_process(from_lists, work / f"{args.size}.duckdb", params, args.workers)
    corpus = in_fresh_process(from_corpus, work / f"{args.size}.duckdb", params, args.workers)
    lists_total = lists["read"] + lists["vocabulary"] + lists["train"]
    corpus_total = corpus["read"] + corpus["vocabulary + train"]
    print(
        f"  lists in memory: read {lists['read']:.1f} s, vocabulary scan {lists['vocabulary']:.1f} s,"
        f" train {lists['train']:.1f} s = {lists_total:.1f} s, peak {lists['peak MiB']:,} MiB,"
        f" validation hit rate@100 {lists['hit rate']:.4f}"
    )
    print(
        f"  corpus file:     read counts {corpus['read']:.1f} s, vocabulary + train"
        f" {corpus['vocabulary + train']:.1f} s = {corpus_total:.1f} s, peak {corpus['peak MiB']:,} MiB,"
        f" validation hit rate@100 {corpus['hit rate']:.4f}"
    )
    print(
        f"  ratio: {lists_total / corpus_total:.2f}x faster per trial,"
        f" {lists['peak MiB'] / corpus['peak MiB']:.2f}x less memory"
    )


if __name__ == "__main__":
    main()
