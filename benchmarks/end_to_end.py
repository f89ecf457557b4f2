"""The whole retrain at Spotify scale (or the Million Playlist Dataset's): per-stage wall time,
peak memory, hit rates.

Generates the demo data of `--size` (spotify: about 12.9 M rows; mpd: about 66 M) in its own
process unless RECSYS_PLAYLISTS_PATH is set, then runs `retrain` with the packaged search space
(or `--search-space FILE`) in a fresh process and a temporary Dagster instance, and prints what
each stage took, read back from the instance's runs and metadata, and the retrain's peak memory.

    python benchmarks/end_to_end.py [--size spotify|mpd] [--workers 2] [--search-space FILE] [--work-dir DIR]
"""

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

SEED_FLOW_MINUTES = 16.0
README_STAGE_SECONDS = {
    "spotify": {
        "prepare_data": 23.7,
        "train_models [dim48-ep30-mc5-ns0.75-win10]": 368.0,
        "train_models [dim48-ep30-mc10-ns0.75-win10]": 273.6,
        "select_best_model": 18.2,
    },
}
"""Each stage's wall time in the README's previous figures (2026-11-29, 2 workers), by size."""
README_RETRAIN = {"spotify": (11.4 * 60, 4238.0)}
"""The whole retrain's seconds and peak MiB in the README's previous figures, by size."""


def generate(work: Path, size: str) -> tuple[float, int]:
    """Write the demo rows (unless RECSYS_PLAYLISTS_PATH is set); seconds and peak MiB."""
    os.environ["RECSYS_DEMO_SIZE"] = size
    os.environ["RECSYS_DATA_DIR"] = str(work / "data")
    from recsys_assets.core.data.demo_data import DEMO_SIZES, write_demo_rows
    from recsys_assets.settings import load_settings

    settings = load_settings()
    if settings.playlists_path:
        return 0.0, 0
    started = time.perf_counter()
    write_demo_rows(settings.demo_dir, DEMO_SIZES[settings.demo_size])
    return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def run_retrain(work: Path, size: str, workers: int) -> dict:
    """Retrain in this (fresh) process; return stage figures read from the instance."""
    os.environ["RECSYS_DEMO_SIZE"] = size
    os.environ["RECSYS_DATA_DIR"] = str(work / "data")
    import dagster as dg

    from recsys_assets.graph.history import latest_metadata
    from recsys_assets.retrain import retrain
    from recsys_assets.settings import load_settings

    settings = load_settings()
    started = time.perf_counter()
    (work / "home").mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(work / "home")) as instance:
        result = retrain(settings, instance, workers=workers)
        total = time.perf_counter() - started
        stages = []
        for run in reversed(instance.get_runs()):
            stats = instance.get_run_stats(run.run_id)
            label = run.job_name + (
                f" [{run.tags['dagster/partition']}]" if "dagster/partition" in run.tags else ""
            )
            stages.append((label, stats.end_time - stats.start_time))
        models = []
        for key in instance.get_dynamic_partitions("model_configs"):
            meta = latest_metadata(instance, "embedding_model", key)
            models.append(
                (key, meta["train_seconds"], meta.get("evaluation_seconds"), meta["validation_hit_rate"])
            )
    return {
        "total": total,
        "stages": stages,
        "models": models,
        "result": result,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="spotify", choices=("spotify", "mpd"), help="demo data size")
    parser.add_argument("--workers", type=int, default=2, help="Word2Vec threads per config")
    parser.add_argument("--search-space", type=Path, default=None, help="a search-space TOML file")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    if args.search_space:
        os.environ["RECSYS_SEARCH_SPACE"] = str(args.search_space.resolve())
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="recsys-e2e-"))
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        generated, generated_peak = pool.submit(generate, work, args.size).result()
    print(
        f"{args.size} demo data generated in {generated:.1f} s, peak {generated_peak:,} MiB"
        " (its own process, not part of the retrain)"
    )
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        figures = pool.submit(run_retrain, work, args.size, args.workers).result()
    print(f"  {'stage':<52} {'now':>9} {'README':>9} {'ratio':>7}")
    for label, seconds in figures["stages"]:
        before = README_STAGE_SECONDS.get(args.size, {}).get(label)
        versus = f"{before:7.1f} s {before / seconds:6.2f}x" if before else ""
        print(f"  {label:<52} {seconds:7.1f} s {versus}")
    for key, train, evaluation, rate in figures["models"]:
        timing = (
            f"train {train:6.1f} s, validation {evaluation:5.1f} s"
            if evaluation is not None
            else f"fit and validation {train:6.1f} s"
        )
        print(f"  {key:<34} {timing}, hit rate@100 {rate:.4f}")
    result = figures["result"]
    minutes = figures["total"] / 60
    summary = f"retrain: {minutes:.1f} min, peak memory {figures['peak_mib']:,.0f} MiB"
    if args.size in README_RETRAIN:
        seconds_before, peak_before = README_RETRAIN[args.size]
        summary += (
            f" ({SEED_FLOW_MINUTES / minutes:.1f}x faster than the seed flow's {SEED_FLOW_MINUTES:.0f} min;"
            f" README {seconds_before / 60:.1f} min, {seconds_before / figures['total']:.2f}x,"
            f" {peak_before:,.0f} MiB)"
        )
    print(summary)
    print(
        f"best {result.config_key}: validation hit rate@100 {result.validation_hit_rate:.4f},"
        f" test {result.test_hit_rate:.4f} (most popular {result.baseline_hit_rates['most_popular']:.4f})"
    )


if __name__ == "__main__":
    main()
