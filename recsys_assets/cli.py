"""The `recsys-assets` command: retrain the graph, ask the best model, list the trained configs.

Each command imports what it needs when it runs, so `recommend` starts without Dagster.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import unicodedata
from collections.abc import Sequence

from recsys_assets.core.search_space import SearchSpaceError
from recsys_assets.settings import Settings, SettingsError, load_settings


def _retrain_command(args: argparse.Namespace, settings: Settings) -> int:
    import dagster as dg

    from recsys_assets.core.search import StudyUnavailable
    from recsys_assets.instance import prepare_dagster_home
    from recsys_assets.retrain import ConfigsFailed, RetrainStopped, retrain

    home = prepare_dagster_home()
    print(f"Dagster instance: {home}\nData directory: {settings.data_dir}")
    print(f"Playlists: {settings.playlists_path or 'built-in demo data'}")
    print(f"Search space: {settings.search_space_path}")
    workers = 1 if args.reproducible else args.workers or os.cpu_count() or 1
    mode = (
        "reproducible: 1 Word2Vec thread per config, bit-identical models"
        if workers == 1
        else f"fast: {workers} Word2Vec threads per config (models differ slightly run to run;"
        " --reproducible for bit-identical ones)"
    )
    print(f"Training mode: {mode}")
    failure = None
    try:
        with dg.DagsterInstance.get() as instance:
            result = retrain(settings, instance, resume=args.resume, workers=workers, force=args.force)
    except (RetrainStopped, StudyUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ConfigsFailed as error:
        failure, result = error, error.result
    k, seed_rate = result.k, result.test_hit_rate_seed_strategy
    print(
        f"\nBest config: {result.config_key}\n"
        f"  {'strategy' if seed_rate is not None else 'family'}: {result.strategy} (chosen on validation)\n"
        f"  validation hit rate@{k}: {result.validation_hit_rate:.4f}\n"
        f"  test hit rate@{k}:       {result.test_hit_rate:.4f}"
        + (f" (the seed's strategy: {seed_rate:.4f})" if seed_rate is not None else "")
        + "\n"
        f"  baselines on test: most popular {result.baseline_hit_rates['most_popular']:.4f},"
        f" item-to-item {result.baseline_hit_rates['item_to_item']:.4f}\n"
        f"  {result.verdict}\n"
        f"  model: {settings.best_model_location}\n"
        f"  training mode: {mode}\n"
        "See every run and its metadata with `make dev` (Dagster UI)."
    )
    if failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


def printable(text: str) -> str:
    """`text` with control and format characters (terminal escapes, bidirectional overrides)
    written as escapes, so names from the data cannot drive the terminal."""
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in ("Cc", "Cf") else char for char in text
    )


def resolve_tracks(keys: Sequence[str], queries: Sequence[str]) -> tuple[list[str], list[str]]:
    """Track ids for the user's words: ids as given, names by search; and the problems found."""
    from recsys_assets.core.track_ids import TRACK_ID_SEPARATOR
    from recsys_assets.core.track_search import TrackNameIndex

    tracks, problems = [], []
    names = TrackNameIndex(keys)
    for text in queries:
        if TRACK_ID_SEPARATOR in text:
            tracks.append(text)
            continue
        matches = names.search(text, limit=11)
        if len(matches) == 1:
            tracks.append(matches[0])
        elif not matches:
            problems.append(f"no track matches {text!r}")
        else:
            listed = "\n".join(f"    {printable(match)}" for match in matches[:10])
            more = " (and more)" if len(matches) > 10 else ""
            problems.append(f"{text!r} matches several tracks{more}; give one as artist|||track:\n{listed}")
    return tracks, problems


def _recommend_command(args: argparse.Namespace, settings: Settings) -> int:
    from recsys_assets.core.model import read_model
    from recsys_assets.core.recommenders import COUNTED_SCORES, next_tracks
    from recsys_assets.core.track_ids import split_track_id

    if args.version:
        import dagster as dg

        from recsys_assets.client import VersionNotFound, load_model_version
        from recsys_assets.instance import prepare_dagster_home

        prepare_dagster_home()
        try:
            with dg.DagsterInstance.get() as instance:
                model = load_model_version(args.version, instance=instance, settings=settings)
        except (VersionNotFound, FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    else:
        location = settings.best_model_location
        try:
            model = read_model(location)
        except FileNotFoundError:
            print(f"error: no best model at {location}: run `recsys-assets retrain` first", file=sys.stderr)
            return 1
        except ValueError as error:
            print(
                f"error: {error}\n  serve a kept version again with"
                " `recsys-assets promote RUN_ID --reason ...` (`recsys-assets models --history` lists"
                " them), or rebuild it with `recsys-assets retrain`",
                file=sys.stderr,
            )
            return 1
    tracks, problems = resolve_tracks(model.track_keys, args.tracks)
    if problems:
        print("\n".join(f"error: {problem}" for problem in problems), file=sys.stderr)
        return 2
    result = next_tracks(model.recommender(), tracks, args.k, keep_played=args.keep_played)
    if args.json:
        print(json.dumps(_recommendations_json(model, result), indent=2))
        return 0
    print(printable(f"Model {model.config_key} ({model.method}); query: {result.query}"))
    if result.unknown_tracks:
        print(printable(f"Not in the model's vocabulary: {', '.join(result.unknown_tracks)}"))
    if not args.keep_played:
        print("The playlist's own tracks are left out (--keep-played keeps them).")
    width = max(map(len, result.kinds), default=5)
    print(f"{'rank':>4}  {'score':>9}  {'score is':<{width}}  artist — track")
    for rank, ((track, score), kind) in enumerate(zip(result.tracks, result.kinds, strict=True), start=1):
        artist, name = split_track_id(track)
        shown = f"{score:>9,.0f}" if kind in COUNTED_SCORES else f"{score:>9.3f}"
        print(f"{rank:>4}  {shown}  {kind:<{width}}  {printable(artist)} — {printable(name)}")
    return 0


def _recommendations_json(model, result) -> dict:
    from recsys_assets.core.track_ids import split_track_id

    return {
        "model": model.config_key,
        "method": model.method,
        "query": result.query,
        "unknown_tracks": result.unknown_tracks,
        "tracks": [
            {
                "rank": rank,
                "track": track,
                "artist": split_track_id(track)[0],
                "name": split_track_id(track)[1],
                "score": score,
                "score_is": kind,
            }
            for rank, ((track, score), kind) in enumerate(
                zip(result.tracks, result.kinds, strict=True), start=1
            )
        ],
    }


def _history(rows: list[dict]) -> int:
    if not rows:
        print("No best_model version yet: run `recsys-assets retrain` first.")
        return 1
    print(f"{'version (run id)':<38} {'materialized at (UTC)':<26} {'hit rate':>8}  config and note")
    for row in rows:
        hit_rate = row.get("validation_hit_rate")
        note = f"{row.get('winner', '')}" + (f" ({row['reason']})" if "reason" in row else "")
        print(f"{row['version']:<38} {row['materialized_at']:<26} {hit_rate or 0:>8.4f}  {note}")
    print("(newest first; `recsys-assets recommend --version RUN_ID`, `recsys-assets promote RUN_ID`)")
    return 0


def _models_command(args: argparse.Namespace, _: Settings) -> int:
    import dagster as dg

    from recsys_assets.client import model_versions, trained_models
    from recsys_assets.core.metrics import METRIC_KS, metric_name, split_metric_name
    from recsys_assets.instance import prepare_dagster_home

    prepare_dagster_home()
    with dg.DagsterInstance.get() as instance:
        if args.history:
            return _history(model_versions("best_model", instance=instance))
        rows = trained_models(instance)
    if not rows:
        print("No configs registered: run `recsys-assets retrain` first.")
        return 1
    ks = sorted({row["k"] for row in rows if "k" in row}) or [max(METRIC_KS)]
    metrics = [metric_name("hit_rate", n) for n in sorted({*METRIC_KS, *ks})] + [
        metric_name(metric, k) for k in ks for metric in ("mrr", "ndcg")
    ]
    columns = [*(split_metric_name("validation", m) for m in metrics), "vocabulary_size", "train_seconds"]
    print(f"{'  config':<34} " + " ".join(f"{c.removeprefix('validation_'):>14}" for c in columns))
    for row in rows:
        label = ("* " if row["best"] else "  ") + row["config_key"]
        cells = [
            f"{row[c]:>14.4f}" if isinstance(row.get(c), float) else f"{row.get(c, 'not trained')!s:>14}"
            for c in columns
        ]
        print(f"{label:<34} " + " ".join(cells))
    print("(* marks the current best_model)")
    return 0


def _promote_command(args: argparse.Namespace, settings: Settings) -> int:
    import dagster as dg

    from recsys_assets.client import VersionNotFound, promote
    from recsys_assets.instance import prepare_dagster_home

    prepare_dagster_home()
    try:
        with dg.DagsterInstance.get() as instance:
            model = promote(args.version, args.reason, instance=instance, settings=settings)
    except (VersionNotFound, FileNotFoundError, NotImplementedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"best_model now serves version {args.version} ({model.config_key}, validation hit rate"
        f" {model.validation_hit_rate:.4f}), recorded as a materialization: {args.reason}"
    )
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `recsys-assets` console script."""
    parser = argparse.ArgumentParser(prog="recsys-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    retrain_parser = commands.add_parser(
        "retrain",
        help="register the search space's configs and retrain everything in the Dagster instance",
    )
    retrain_parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the data if built and the configs already trained on it; train only what is missing",
    )
    retrain_parser.add_argument(
        "--force",
        action="store_true",
        help="retrain even when the source, search space, code and storage settings are unchanged",
    )
    threads = retrain_parser.add_mutually_exclusive_group()
    threads.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="Word2Vec threads per config (default: every core)",
    )
    threads.add_argument(
        "--reproducible",
        action="store_true",
        help="train with one Word2Vec thread per config, for bit-identical models (slower)",
    )
    retrain_parser.set_defaults(handler=_retrain_command)
    recommend_parser = commands.add_parser(
        "recommend", help="next-track recommendations of the best model for a playlist"
    )
    recommend_parser.add_argument(
        "tracks",
        nargs="+",
        help="tracks in playlist order: artist|||track ids, or words of artist and track names",
    )
    recommend_parser.add_argument(
        "-k", type=_positive_int, default=10, help="how many tracks to recommend (10)"
    )
    recommend_parser.add_argument(
        "--version",
        help="a best_model version (run id, or its first 8+ characters) instead of the served one",
    )
    recommend_parser.add_argument(
        "--keep-played", action="store_true", help="keep the playlist's own tracks in the list"
    )
    recommend_parser.add_argument("--json", action="store_true", help="print the list as JSON, for scripts")
    recommend_parser.set_defaults(handler=_recommend_command)
    models_parser = commands.add_parser("models", help="the trained configs and their validation metrics")
    models_parser.add_argument(
        "--history", action="store_true", help="every best_model version instead, newest first"
    )
    models_parser.set_defaults(handler=_models_command)
    promote_parser = commands.add_parser(
        "promote", help="serve an earlier best_model version again (roll back), with a reason"
    )
    promote_parser.add_argument("version", help="the version's run id, or its first 8+ characters")
    promote_parser.add_argument("--reason", required=True, help="why, recorded with the materialization")
    promote_parser.set_defaults(handler=_promote_command)
    args = parser.parse_args(argv)
    try:
        return args.handler(args, load_settings())
    except (SettingsError, SearchSpaceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
