"""The `recsys-assets` command: retrain the graph, ask the best model, list the trained configs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recsys_assets.settings import Settings

DESCRIPTION = """\
Train, tune and choose next-track recommendation models (a Dagster asset graph), then ask the
best one for the next tracks of a playlist.

Every command reads the environment: DAGSTER_HOME (the Dagster instance), RECSYS_DATA_DIR (tables and
models), RECSYS_PLAYLISTS_PATH (the playlist rows; unset: the built-in demo data) and
RECSYS_SEARCH_SPACE (the configs to compare); docs/configuration.md lists every variable.
"""
RETRAIN_EPILOG = """\
examples:
  recsys-assets retrain                  # skips in seconds when nothing changed
  recsys-assets retrain --resume         # after a failure: keep what is done
  RECSYS_SEARCH_SPACE=recsys_assets/search_space_tune.toml recsys-assets retrain
"""
RECOMMEND_EPILOG = """\
examples:
  recsys-assets recommend "Blue Rivers|||Again Fire" "crystal rivers again blue"
  recsys-assets recommend "Blue Rivers|||Again Fire" -k 5 --json
  recsys-assets recommend "Blue Rivers|||Again Fire" --version 3f9a2c1e

Each score says what it is: the served model's own kind of score (its family's, e.g. a
similarity or a rule weight), times followed (the last track's followers in training, when the
model lists them first), or plays in training (the most played tracks that fill the list).
"""
MODELS_EPILOG = """\
examples:
  recsys-assets models                   # every config's validation metrics, the best marked
  recsys-assets models --history         # the best model's versions, newest first
  recsys-assets models --json
"""
PROMOTE_EPILOG = """\
examples:
  recsys-assets promote 3f9a2c1e --reason "the new data had a broken week"
  recsys-assets promote --release        # unpin: selections choose the best model again
"""


def _retrain_command(args: argparse.Namespace, settings: Settings) -> int:
    import dagster as dg

    from recsys_assets.core.search.study import StudyUnavailable
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


class CommandFailed(Exception):
    """What stopped a command, said in one `error:` line, and its exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def printable(text: str) -> str:
    """`text` with control and format characters (terminal escapes, bidirectional overrides)
    written as escapes, so names from the data cannot drive the terminal."""
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in ("Cc", "Cf") else char for char in text
    )


def _recommend_command(args: argparse.Namespace, settings: Settings) -> int:
    import dagster as dg

    from recsys_assets.client import VersionNotFound, load_model_version
    from recsys_assets.core.data.track_ids import split_track_id
    from recsys_assets.core.models.base import COUNTED_SCORES
    from recsys_assets.core.models.trained import AmbiguousTracks
    from recsys_assets.instance import prepare_dagster_home

    def fail(problems: list[str], status: int, hint: str = "") -> int:
        """Say what is wrong, one `error:` line each (and as JSON on stdout with --json)."""
        print("\n".join(f"error: {problem}" for problem in problems) + hint, file=sys.stderr)
        if args.json:
            print(json.dumps({"errors": problems}, indent=2))
        return status

    not_text = [text for text in args.tracks if not _is_text(text)]
    if not_text:
        return fail(
            [
                f"{text.encode('utf-8', 'surrogateescape')!r} is not UTF-8 text; give tracks as UTF-8"
                for text in not_text
            ],
            2,
        )
    prepare_dagster_home()
    try:
        with dg.DagsterInstance.get() as instance:
            model = load_model_version(args.version or "latest", instance=instance, settings=settings)
    except VersionNotFound as error:
        return fail([str(error)], 2)
    except FileNotFoundError as error:
        missing = f"no best model at {settings.best_model_location}: run `recsys-assets retrain` first"
        return fail([str(error) if args.version else missing], 1)
    except ValueError as error:
        hint = (
            "\n  serve a kept version again with `recsys-assets promote RUN_ID --reason ...`"
            " (`recsys-assets models --history` lists them), or rebuild it with `recsys-assets retrain`"
        )
        return fail([str(error)], 1, "" if args.version else hint)
    try:
        result, resolved = model.next_tracks(args.tracks, args.k, keep_played=args.keep_played)
    except AmbiguousTracks as error:
        return fail([_candidates(text, found) for text, found in error.resolved.ambiguous.items()], 2)
    leave_out = model.leaves_out_played and not args.keep_played
    if args.json:
        print(json.dumps(_recommendations_json(model, result, resolved), indent=2))
        return 0
    print(printable(f"Model {model.config_key} ({model.method}); query: {result.query}"))
    for text, track in resolved.resolved.items():
        print(printable(f"{text!r} is {' — '.join(split_track_id(track))}"))
    if resolved.unmatched:
        print(printable(f"No track matches {', '.join(map(repr, resolved.unmatched))}"))
    unknown = [track for track in result.unknown_tracks if track not in resolved.unmatched]
    if unknown:
        print(printable(f"Not in the model's vocabulary: {', '.join(unknown)}"))
    if leave_out:
        print("The playlist's own tracks are left out, as chosen on validation (--keep-played keeps them).")
    elif not model.leaves_out_played:
        print("The playlist's own tracks may be listed: keeping them scored better on validation.")
    width = max(map(len, result.kinds), default=5)
    print(f"{'rank':>4}  {'score':>9}  {'score is':<{width}}  artist — track")
    for rank, ((track, score), kind) in enumerate(zip(result.tracks, result.kinds, strict=True), start=1):
        artist, name = split_track_id(track)
        shown = f"{score:>9,.0f}" if kind in COUNTED_SCORES else f"{score:>9.3f}"
        print(f"{rank:>4}  {shown}  {kind:<{width}}  {printable(artist)} — {printable(name)}")
    return 0


def _is_text(argument: str) -> bool:
    """Whether a command-line argument was valid UTF-8 (undecodable bytes arrive as surrogates)."""
    try:
        argument.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _candidates(text: str, found: list[str]) -> str:
    """The problem of words that name several tracks, with the closest candidates."""
    from recsys_assets.core.data.track_names import CANDIDATES_SHOWN

    listed = "\n".join(f"    {printable(match)}" for match in found[:CANDIDATES_SHOWN])
    more = " (and more)" if len(found) > CANDIDATES_SHOWN else ""
    return f"{text!r} matches several tracks{more}; give one as artist|||track:\n{listed}"


def _recommendations_json(model, result, resolved) -> dict:
    from recsys_assets.core.data.track_ids import split_track_id

    return {
        "model": model.config_key,
        "method": model.method,
        "query": result.query,
        "resolved": resolved.resolved,
        "unmatched": resolved.unmatched,
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


def _history(rows: list[dict], as_json: bool) -> int:
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0 if rows else 1
    if not rows:
        print("No best_model version yet: run `recsys-assets retrain` first.")
        return 1
    print(f"{'version (run id)':<38} {'materialized (UTC)':<26} {'validation':>10} {'test':>7}  config, note")
    for row in rows:
        validation, test = row.get("validation_hit_rate"), row.get("test_hit_rate")
        note = ", ".join(
            [
                str(row.get("winner", "")),
                *([f"promoted: {row['reason']}"] if "reason" in row else []),
                *(["pinned (promote --release unpins)"] if row.get("pinned") else []),
                *([f"chosen again {row['chosen_again']}x"] if row.get("chosen_again") else []),
            ]
        )
        rates = f"{_rate(validation):>10} {_rate(test):>7}"
        print(f"{row['version']:<38} {row['materialized_at']:<26} {rates}  {note}")
    print(
        "(hit rates@K, newest first; `recsys-assets recommend --version RUN_ID`,"
        " `recsys-assets promote RUN_ID --reason ...`)"
    )
    return 0


def _rate(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"


def _models_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.history:
        import dagster as dg

        from recsys_assets.client import model_versions
        from recsys_assets.instance import prepare_dagster_home

        prepare_dagster_home()
        with dg.DagsterInstance.get() as instance:
            return _history(model_versions("best_model", instance=instance), args.json)
    from recsys_assets.core.evaluation.metrics import METRIC_KS, metric_name
    from recsys_assets.core.models.served import served_configs

    rows, problem = served_configs(settings.models_location, _registered_configs(settings))
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return _say_served_problem(problem) or (0 if rows else 1)
    ks = sorted({row.model.k for row in rows if row.model}) or [max(METRIC_KS)]
    metrics = [metric_name("hit_rate", n) for n in sorted({*METRIC_KS, *ks})] + [
        metric_name(metric, k) for k in ks for metric in ("mrr", "ndcg")
    ]
    width = min(max((len(row.key) for row in rows), default=6), WIDEST_KEY_COLUMN) + 2
    headers = [_short_metric(metric) for metric in metrics]
    widths = [max(len(header), 6) for header in headers]
    print(
        f"{'  config':<{width}} "
        + " ".join(f"{header:>{cell}}" for header, cell in zip(headers, widths, strict=True))
        + f" {'tracks':>9} {'train s':>7}  family or strategy"
    )
    for row in rows:
        label = ("* " if row.best else "  ") + row.key
        if row.problem is not None:
            print(f"{label:<{width}} model file damaged: {printable(row.problem)}")
            continue
        if row.model is None:
            print(f"{label:<{width}} not trained yet")
            continue
        model = row.model
        if len(label) > width:
            print(label)
            label = ""
        cells = [
            f"{model.validation[m]:>{cell}.4f}" if m in model.validation else f"{'-':>{cell}}"
            for m, cell in zip(metrics, widths, strict=True)
        ]
        print(
            f"{label:<{width}} "
            + " ".join(cells)
            + f" {model.vocabulary_size:>9,} {model.train_seconds:>7.1f}  {_method_in_a_table(model)}"
        )
    print(
        "(validation metrics of each config's served model, HR: hit rate; * marks the best model;"
        " train s: fit and validation)"
    )
    return _say_served_problem(problem)


WIDEST_KEY_COLUMN = 40
"""The widest the models table's config column gets; a longer key has a line of its own."""


def _method_in_a_table(model) -> str:
    """How a model lists tracks, in few words: its family, and its query strategy in short where
    its family has strategies."""
    from recsys_assets.core.models.registry import FAMILIES

    if FAMILIES[model.family].describe_strategy is None:
        return model.method
    strategy = model.strategy
    successors = f", successors {strategy.min_successor_count}+" if strategy.successors_first else ""
    return f"{model.family_label}, {strategy.query_label}, {strategy.cold_start}{successors}"


def _short_metric(name: str) -> str:
    """A metric's column header: hit_rate@10 as HR@10, mrr@100 as MRR@100."""
    metric, _, k = name.partition("@")
    return f"{'HR' if metric == 'hit_rate' else metric.upper()}@{k}"


def _say_served_problem(problem: str | None) -> int:
    """Print what is wrong with the served best model's file, if anything; the exit status."""
    if problem is None:
        return 0
    print(f"error: {printable(problem)}", file=sys.stderr)
    return 1


def _registered_configs(settings: Settings) -> list:
    """The search space's configs, then its search's trials (when it has a [search] table)."""
    from recsys_assets.core.search.space import read_search_space

    space = read_search_space(settings.search_space_path)
    if space.plan is None:
        return list(space.configs)
    from recsys_assets.core.search.study import (
        StudyUnavailable,
        open_study,
        study_errors,
        trial_configs,
        with_trials,
    )

    try:
        with study_errors(settings.study_location):
            trials = trial_configs(open_study(settings.study_location, space.plan))
    except StudyUnavailable as error:
        raise CommandFailed(str(error), 1) from None
    return with_trials(list(space.configs), trials)


def _promote_command(args: argparse.Namespace, settings: Settings) -> int:
    import dagster as dg

    from recsys_assets.client import VersionNotFound, promote
    from recsys_assets.instance import prepare_dagster_home

    prepare_dagster_home()
    if args.release:
        from recsys_assets.graph.records import release_pin

        with dg.DagsterInstance.get() as instance:
            released = release_pin(instance)
        if released is None:
            print("best_model is not pinned: the nightly chain and the sensors choose it.")
        else:
            print(
                f"Unpinned version {released.version[:8]} ({released.config_key}): the next selection"
                " (the nightly chain, a retrain, select_best_model) chooses the best model again."
            )
        return 0
    if not args.version or not args.reason:
        print("error: give a VERSION and --reason, or --release", file=sys.stderr)
        return 2
    try:
        with dg.DagsterInstance.get() as instance:
            model = promote(args.version, args.reason, instance=instance, settings=settings)
    except (VersionNotFound, OSError, NotImplementedError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"best_model now serves version {args.version} ({model.config_key}, validation hit rate"
        f" {model.validation_hit_rate:.4f}), recorded as a materialization: {args.reason}\n"
        "Pinned: no selection replaces it until `recsys-assets promote --release` or `recsys-assets retrain`."
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


def _command(commands, name: str, summary: str, description: str, epilog: str) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, 92),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `recsys-assets` console script."""
    parser = argparse.ArgumentParser(
        prog="recsys-assets", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    retrain_parser = _command(
        commands,
        "retrain",
        "retrain everything: the data, every config of the search space, the best model, its test evaluation",
        "Build the playlist tables and splits, train and validate every config of the search space"
        " (and its search's trials), choose the best on validation and evaluate it on test, each"
        " step a run in the Dagster instance. Skips in seconds when the source, the search space,"
        " the code and the storage settings are unchanged.",
        RETRAIN_EPILOG,
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
    recommend_parser = _command(
        commands,
        "recommend",
        "the best model's next tracks for a playlist",
        "List the tracks the served best model (or an earlier version) recommends after a playlist,"
        " leaving the playlist's own tracks out. Tracks are artist|||track ids or words of the artist"
        " and track names.",
        RECOMMEND_EPILOG,
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
        "--keep-played",
        action="store_true",
        help="keep the playlist's own tracks in the list when the model leaves them out",
    )
    recommend_parser.add_argument("--json", action="store_true", help="print the list as JSON, for scripts")
    recommend_parser.set_defaults(handler=_recommend_command)
    models_parser = _command(
        commands,
        "models",
        "the trained configs and their validation metrics, or the best model's versions",
        "List every registered config with its family or strategy, validation metrics and training"
        " time, the best one marked; with --history, every version of the best model.",
        MODELS_EPILOG,
    )
    models_parser.add_argument(
        "--history", action="store_true", help="every best_model version instead, newest first"
    )
    models_parser.add_argument("--json", action="store_true", help="print the rows as JSON, for scripts")
    models_parser.set_defaults(handler=_models_command)
    promote_parser = _command(
        commands,
        "promote",
        "serve an earlier best_model version again (roll back), with a reason",
        "Serve a version that `recsys-assets models --history` lists as the best model again,"
        " recorded as a best_model materialization with the reason, and pin it: no sensor, UI"
        " launch or nightly retrain replaces it until --release or the next `recsys-assets retrain`.",
        PROMOTE_EPILOG,
    )
    promote_parser.add_argument("version", nargs="?", help="the version's run id, or its first 8+ characters")
    promote_parser.add_argument("--reason", help="why, recorded with the materialization")
    promote_parser.add_argument(
        "--release", action="store_true", help="unpin the promoted version: selections choose again"
    )
    promote_parser.set_defaults(handler=_promote_command)
    args = parser.parse_args(argv)
    from recsys_assets.core.models.parameters import ConfigError
    from recsys_assets.settings import SettingsError, load_settings

    try:
        return args.handler(args, load_settings())
    except (SettingsError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except CommandFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    except BrokenPipeError:
        # The reader of the output (`| head`) stopped reading: nothing more to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
