"""What the benchmark scripts share: running a stage in a fresh process and reading its peak memory."""

import resource
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context


def peak_mib() -> int:
    """This process's peak resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def in_fresh_process(function, *args):
    """`function(*args)` in a new Python process, so that its peak memory is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def build_demo(size: str, work, seed: int = 42):
    """Generate the demo data of `size` under `work`, build its tables and training files as a
    data build does, print what was built; return (validation cases, test cases, training data)."""
    import time

    import duckdb

    from recsys_assets.core.data.demo_data import DEMO_SIZES, write_demo_rows
    from recsys_assets.core.data.playlists import build_playlist_tables, evaluation_cases
    from recsys_assets.core.data.training_files import read_training_data, write_training_files

    started = time.perf_counter()
    source = write_demo_rows(work / "demo", DEMO_SIZES[size])
    database = work / f"{size}.duckdb"
    database.unlink(missing_ok=True)
    with duckdb.connect(str(database)) as conn:
        build_playlist_tables(conn, source, seed=seed)
        validation = evaluation_cases(conn, "validate_playlists")
        test = evaluation_cases(conn, "test_playlists")
        write_training_files(conn, work / "training")
    training = read_training_data(work / "training")
    print(
        f"{size} demo: {training.corpus.lines} training corpus lines, {len(validation)} validation"
        f" and {len(test)} test rows; data ready in {time.perf_counter() - started:.0f} s"
    )
    return validation, test, training
