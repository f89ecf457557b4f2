"""A nightly run on unchanged data: a full retrain against one that finds nothing changed.

Generates the demo data of `--size`, then, in one process and one temporary Dagster instance,
times a full `retrain`, a second `retrain` with the same source, search space and code (which
skips training), and one tick of the nightly schedule (which skips too). The source is read as a
file, so the skip includes fingerprinting its bytes, as it would for a user's file.

    python benchmarks/unchanged_retrain.py [--size small|spotify] [--work-dir DIR]
"""

import argparse
import contextlib
import io
import tempfile
import time
from datetime import datetime
from pathlib import Path

import dagster as dg

from recsys_assets.core.data.demo_data import DEMO_SIZES, write_demo_rows
from recsys_assets.core.storage.fingerprint import file_fingerprint
from recsys_assets.definitions import build_definitions
from recsys_assets.retrain import retrain
from recsys_assets.settings import PACKAGED_SEARCH_SPACE, Settings


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        value = action()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=["small", "spotify"], default="small")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="recsys-unchanged-"))
    source = write_demo_rows(work / "demo", DEMO_SIZES[args.size])
    settings = Settings(
        playlists_path=source, data_dir=work / "data", search_space_path=PACKAGED_SEARCH_SPACE
    )
    hashing, _ = timed(lambda: file_fingerprint(source))
    megabytes = source.stat().st_size / 1e6
    speed = megabytes / hashing
    print(
        f"source: {source.name}, {megabytes:.0f} MB; its fingerprint took {hashing:.2f} s ({speed:.0f} MB/s)"
    )

    (work / "home").mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(work / "home")) as instance:
        full, _ = timed(lambda: retrain(settings, instance))
        runs = len(instance.get_runs())
        skipped, _ = timed(lambda: retrain(settings, instance))
        assert len(instance.get_runs()) == runs, "the unchanged retrain started runs"
        defs = build_definitions(settings)
        schedule = defs.resolve_schedule_def("nightly_retrain")
        resources = {name: defs.resources[name] for name in ("playlist_source", "search_space")}
        with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime.now(), resources=resources
        ) as context:
            tick_seconds, tick = timed(lambda: schedule.evaluate_tick(context))
        assert not tick.run_requests, tick.skip_message

    print(f"full retrain (seed's two configs):      {full:8.1f} s")
    print(f"unchanged retrain (training skipped):   {skipped:8.1f} s   {full / skipped:6.1f}x faster")
    print(
        f"unchanged nightly tick (schedule skip): {tick_seconds:8.1f} s   {full / tick_seconds:6.1f}x faster"
    )
    print(f"  it says: {tick.skip_message}")


if __name__ == "__main__":
    main()
