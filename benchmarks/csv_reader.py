"""The raw-CSV reader against DuckDB's own lenient CSV reader, on generated Spotify-style lines.

Writes `--lines` quoted, backslash-escaped lines (with `--broken` lines whose quote never
closes), then reads them with DuckDB's `read_csv(ignore_errors)` and with the project's
line-by-line reader, in the same process, and prints both times, the ratio, and how many good
rows each kept (DuckDB's reader loses the line after each unclosed quote).

    python benchmarks/csv_reader.py [--lines 3000000] [--broken 100]
"""

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from recsys_assets.core.data.sources import RAW_CSV_COLUMNS, open_source_rows, sql_string


def write_lines(path: Path, lines: int, broken: int) -> int:
    """Write the file; return how many of its lines are well formed."""
    with duckdb.connect() as conn:
        conn.execute(
            f"""
            COPY (SELECT 'user' || (i % 15000) AS user_id, 'Artist ' || (i % 290000) AS artistname,
                         'Track, "named" ' || (i % 2700000) AS trackname,
                         'Playlist ' || (i % 200) AS playlistname
                  FROM range({lines - broken}) t(i))
            TO {sql_string(str(path))} (FORMAT csv, QUOTE '"', ESCAPE '\\', FORCE_QUOTE *, HEADER false)
            """
        )
    body = path.read_bytes().splitlines(keepends=True)
    step = max(1, len(body) // (broken + 1))
    for number in range(broken):
        body.insert((number + 1) * step + number, b'"userX","Artist X","never closed\n')
    header = ", ".join(f'"{name}"' for name in RAW_CSV_COLUMNS).encode() + b"\n"
    path.write_bytes(header + b"".join(body))
    return lines - broken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3_000_000)
    parser.add_argument("--broken", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "raw.csv"
        good = write_lines(path, args.lines, args.broken)
        columns = ", ".join(f"'{name}': 'VARCHAR'" for name in RAW_CSV_COLUMNS)
        with duckdb.connect() as conn:
            started = time.perf_counter()
            conn.execute(
                f"""
                CREATE TEMP TABLE lenient AS SELECT * FROM read_csv({sql_string(str(path))}, header = true,
                    auto_detect = false, delim = ',', quote = '"', escape = '\\', columns = {{{columns}}},
                    ignore_errors = true)
                """
            )
            lenient = conn.execute("SELECT count(*) FROM lenient").fetchall()[0][0]
            duckdb_seconds = time.perf_counter() - started
            started = time.perf_counter()
            with open_source_rows(conn, path) as found:
                ours = conn.execute("SELECT count(*) FROM source_rows").fetchall()[0][0]
            ours_seconds = time.perf_counter() - started
    print(f"{args.lines:,} lines, {args.broken} with an unclosed quote, {good:,} well formed")
    print(f"  DuckDB read_csv(ignore_errors): {duckdb_seconds:6.2f} s, {lenient:,} rows kept")
    print(f"  line-by-line reader:            {ours_seconds:6.2f} s, {ours:,} rows kept")
    print(
        f"  {ours_seconds / duckdb_seconds:.1f}x the time; {found.malformed_lines} lines reported malformed;"
        f" good rows lost by DuckDB's reader: {good - lenient:,}"
    )


if __name__ == "__main__":
    main()
