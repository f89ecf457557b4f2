"""Data stage at Spotify scale: generate the rows, build the playlist table and splits.

Each stage runs in a fresh process so that its peak memory is its own. The floor the playlist
table is measured against, in the same run: one scan of the parquet and one GROUP BY that
collects each playlist's tracks, without ordering or ids.

    python benchmarks/data.py [--size spotify] [--csv] [--train] [--work-dir DIR]
"""

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
from measure import in_fresh_process, peak_mib

from recsys_assets.core.data.demo_data import DEMO_SIZES, write_demo_rows
from recsys_assets.core.data.playlists import build_playlist_table, evaluation_cases, split_playlists
from recsys_assets.core.data.training_files import read_training_data, write_training_files
from recsys_assets.core.evaluation.metrics import hit_rate
from recsys_assets.core.models.baselines import PopularityRecommender
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.ranking import embedding_ranks
from recsys_assets.core.models.word2vec.train import train_embeddings


def generate(size: str, directory: Path) -> tuple[float, int, Path]:
    started = time.perf_counter()
    path = write_demo_rows(directory, DEMO_SIZES[size])
    return time.perf_counter() - started, peak_mib(), path


def floor(source: Path) -> tuple[float, int, int]:
    started = time.perf_counter()
    with duckdb.connect() as conn:
        conn.execute("SET enable_progress_bar = false")
        groups = conn.execute(
            f"""
            SELECT sum(len(tracks)) FROM (
                SELECT user_id, playlist, list(track ORDER BY row_id) AS tracks
                FROM read_parquet('{source}') GROUP BY ALL
            )
            """
        ).fetchall()[0][0]
    return time.perf_counter() - started, peak_mib(), groups


def build(source: Path, database: Path) -> tuple[float, float, int, dict]:
    with duckdb.connect(str(database)) as conn:
        conn.execute("SET enable_progress_bar = false")
        started = time.perf_counter()
        stats = build_playlist_table(conn, source)
        table_seconds = time.perf_counter() - started
        started = time.perf_counter()
        sizes = split_playlists(conn, seed=42)
        split_seconds = time.perf_counter() - started
    summary = {
        "rows": stats.rows,
        "users": stats.users,
        "tracks": stats.tracks,
        "playlists": stats.playlists,
        "artists": stats.artists,
        "rows kept": stats.rows_kept,
        "malformed lines": stats.source.malformed_lines,
        **sizes,
    }
    return table_seconds, split_seconds, peak_mib(), summary


def structure(database: Path) -> tuple[float, float, float, float]:
    """Hit rate@100 on validation of the seed's min_count=10 config and of the most popular tracks."""
    folder = database.with_suffix(".training")
    with duckdb.connect(str(database), read_only=True) as conn:
        cases = evaluation_cases(conn, "validate_playlists")
        write_training_files(conn, folder)
    training = read_training_data(folder)
    started = time.perf_counter()
    params = {"min_count": 10, "epochs": 30, "vector_size": 48, "window": 10, "ns_exponent": 0.75}
    vectors = train_embeddings(training.corpus, params, seed=42, workers=2)
    seconds = time.perf_counter() - started
    model = hit_rate(embedding_ranks(TrackEmbedding(vectors), cases, seed=42).ranks, 100)
    return (
        model,
        hit_rate(PopularityRecommender(training.statistics).rank(cases, 100).ranks, 100),
        seconds,
        float(peak_mib()),
    )


def to_raw_csv(source: Path, target: Path) -> tuple[float, int, Path]:
    started = time.perf_counter()
    with duckdb.connect() as conn:
        conn.execute("SET enable_progress_bar = false")
        conn.execute(
            f"""
            COPY (SELECT user_id, artist AS artistname, track AS trackname, playlist AS playlistname
                  FROM read_parquet('{source}') ORDER BY row_id)
            TO '{target}' (HEADER false, QUOTE '"', ESCAPE '\\', FORCE_QUOTE *)
            """
        )
    body = target.read_bytes()
    target.write_bytes(b'"user_id", "artistname", "trackname", "playlistname"\n' + body)
    return time.perf_counter() - started, peak_mib(), target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="spotify", choices=sorted(DEMO_SIZES))
    parser.add_argument("--csv", action="store_true", help="also build from the same rows as a raw CSV")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument(
        "--train", action="store_true", help="also train the seed's min_count=10 config against the baseline"
    )
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="recsys-data-"))
    work.mkdir(parents=True, exist_ok=True)

    seconds, peak, source = in_fresh_process(generate, args.size, work / "rows")
    print(f"generate {args.size} rows: {seconds:.1f} s, peak {peak:,} MiB -> {source}")
    floor_seconds, floor_peak, groups = in_fresh_process(floor, source)
    print(
        f"floor (scan + one GROUP BY into ordered lists): {floor_seconds:.1f} s, peak {floor_peak:,} MiB,"
        f" {groups:,} tracks listed"
    )
    table_seconds, split_seconds, peak, summary = in_fresh_process(build, source, work / "parquet.duckdb")
    print(
        f"playlists from parquet: {table_seconds:.1f} s ({table_seconds / floor_seconds:.2f}x the floor),"
        f" splits {split_seconds:.1f} s, peak {peak:,} MiB"
    )
    print("  " + ", ".join(f"{name} {value:,}" for name, value in summary.items()))
    if args.train:
        model, popular, seconds, peak = in_fresh_process(structure, work / "parquet.duckdb")
        print(
            f"structure: validation hit rate@100 {model:.4f} for the seed's min_count=10 config (trained in"
            f" {seconds:.0f} s, 2 workers) against {popular:.4f} for the most popular tracks"
            f" ({model / popular:.1f}x), peak {peak:,.0f} MiB"
        )
    if args.csv:
        seconds, _, raw = in_fresh_process(to_raw_csv, source, work / "spotify_dataset.csv")
        print(f"raw CSV written in {seconds:.1f} s ({raw.stat().st_size / 2**20:,.0f} MiB)")
        table_seconds, split_seconds, peak, summary = in_fresh_process(build, raw, work / "csv.duckdb")
        print(
            f"playlists from raw CSV: {table_seconds:.1f} s ({table_seconds / floor_seconds:.2f}x the parquet"
            f" floor), splits {split_seconds:.1f} s, peak {peak:,} MiB"
        )
        print("  " + ", ".join(f"{name} {value:,}" for name, value in summary.items()))


if __name__ == "__main__":
    main()
