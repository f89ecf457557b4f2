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
