"""Choosing the best of many config models: every model loaded whole against summaries and one load.

Takes the `embedding_model` folder of a retrain with a search (for example the one
`benchmarks/search.py` leaves in its work folder) and picks the best config both ways, each in a
fresh process: the previous way (load every config's model whole, then choose) and the current
one (read each file's manifest, choose, load the winner). Prints each way's seconds and peak
memory, their ratios, and the winner each chose.

    python benchmarks/selection.py MODELS_FOLDER
"""

import argparse
import time
from pathlib import Path

from measure import in_fresh_process, peak_mib

from recsys_assets.core.models.trained import load_model, select_best, summary_from_file


def every_model_whole(files: list[Path]) -> tuple[str, float, int]:
    """The previous way; returns the winner's key, the seconds and the peak MiB."""
    started = time.perf_counter()
    models = {path.stem: load_model(path) for path in files}
    winner = select_best(models)
    return winner.config_key, time.perf_counter() - started, peak_mib()


def summaries_then_winner(files: list[Path]) -> tuple[str, float, int]:
    """The current way; returns the winner's key, the seconds and the peak MiB."""
    started = time.perf_counter()
    summaries = {}
    for path in files:
        with path.open("rb") as file:
            summaries[path.stem] = summary_from_file(file, str(path))
    winner = load_model(files[0].with_name(f"{select_best(summaries).config_key}.npz"))
    return winner.config_key, time.perf_counter() - started, peak_mib()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", type=Path, help="a folder of config model files (<config key>.npz)")
    args = parser.parse_args()
    files = sorted(args.models.glob("*.npz"))
    if not files:
        parser.error(f"{args.models}: no .npz model files")
    size = sum(path.stat().st_size for path in files) / 2**20
    print(f"{len(files)} config models, {size:,.0f} MiB of files")
    base_process = in_fresh_process(peak_mib)
    before = in_fresh_process(every_model_whole, files)
    after = in_fresh_process(summaries_then_winner, files)
    print(f"a fresh process alone peaks at {base_process:,} MiB")
    ways = {"every model whole": before, "summaries, then the winner": after}
    for name, (winner, seconds, peak) in ways.items():
        print(f"{name:>28}: {seconds:6.1f} s, peak {peak:,} MiB, winner {winner}")
    print(f"{'ratio':>28}: {before[1] / after[1]:6.1f}x faster, {before[2] / after[2]:.1f}x less memory")


if __name__ == "__main__":
    main()
