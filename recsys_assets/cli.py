"""The `recsys-assets` command: retrain the graph, ask the best model, list the trained configs."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from gensim.models.keyedvectors import KeyedVectors

from recsys_assets.client import load_best_model, trained_models
from recsys_assets.core.evaluate import QueryStrategy
from recsys_assets.core.playlists import TRACK_ID_SEPARATOR, split_track_id
from recsys_assets.core.recommend import recommend, search_tracks
from recsys_assets.core.search_space import SearchSpaceError, load_search_space, partition_changes
from recsys_assets.definitions import build_definitions
from recsys_assets.graph.automation import latest_materialization
from recsys_assets.graph.partitions import model_configs
from recsys_assets.settings import (
    INSTANCE_SETTINGS,
    Settings,
    SettingsError,
    default_dagster_home,
    load_settings,
)


class RetrainError(RuntimeError):
    """A stage of the retrain failed, or a data check did, so later stages did not run."""


class RetrainFailure(RuntimeError):
    """Some configs failed to train; the best model was chosen among the others."""

    def __init__(self, result: dict[str, object], failed: list[str]):
        super().__init__(
            f"config(s) failed to train: {', '.join(failed)}; the best model was chosen among the"
            " others. Fix them, then `recsys-assets retrain --resume` trains only what is missing."
        )
        self.result = result
        self.failed = failed


QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _step_errors(result: dg.ExecuteInProcessResult) -> list[str]:
    """The innermost error message of each failed step."""
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error.cause:
            error = error.cause
        messages.append(f"{event.step_key}: {error.message.strip()}")
    return messages


def sync_config_partitions(instance: dg.DagsterInstance, keys: Sequence[str]) -> tuple[list[str], list[str]]:
    """Make the registered config partitions equal `keys`; return the keys added and removed."""
    added, removed = partition_changes(set(instance.get_dynamic_partitions(model_configs.name)), list(keys))
    if added:
        instance.add_dynamic_partitions(model_configs.name, added)
    for key in removed:
        instance.delete_dynamic_partition(model_configs.name, key)
    return added, removed


def retrain(
    settings: Settings, instance: dg.DagsterInstance, resume: bool = False, workers: int = 1
) -> dict[str, object]:
    """Register the search space's configs, then materialize data, every config, best model, test.

    A config that fails does not stop the others: the best model is chosen among those trained,
    and RetrainFailure (carrying the result) names the failed ones. With `resume`, data already
    built and configs already trained on it are kept. `workers` is Word2Vec's thread count.
    """
    configs = load_search_space(settings.search_space_path)
    defs = build_definitions(settings)
    added, removed = sync_config_partitions(instance, [config.key for config in configs])
    if added:
        print(f"Registered config partitions: {', '.join(added)}")
    if removed:
        print(f"Removed config partitions no longer in the search space: {', '.join(removed)}")

    def run(job: str, partition_key: str | None = None, run_config: dict | None = None) -> None:
        label = f"{job} [{partition_key}]" if partition_key else job
        print(f"-> {label}", flush=True)
        started = time.perf_counter()
        result = defs.resolve_job_def(job).execute_in_process(
            run_config={**QUIET_CONSOLE, **(run_config or {})},
            instance=instance,
            partition_key=partition_key,
            raise_on_error=False,
        )
        failed_checks = [
            f"{check.asset_key.to_user_string()}: {check.check_name}"
            for check in result.get_asset_check_evaluations()
            if not check.passed
        ]
        if failed_checks:
            raise RetrainError(f"data checks failed, so no model was trained: {', '.join(failed_checks)}")
        if not result.success:
            raise RetrainError(f"{label} failed: {'; '.join(_step_errors(result))}")
        print(f"   done in {time.perf_counter() - started:.1f} s", flush=True)

    data = latest_materialization(instance, "train_playlists")
    if resume and data:
        print("-> prepare_data: kept (--resume)")
    else:
        run("prepare_data")
        data = latest_materialization(instance, "train_playlists")
    failures = []
    for config in configs:
        model = latest_materialization(instance, "embedding_model", config.key)
        if resume and model and model.timestamp >= data.timestamp:
            print(f"-> train_models [{config.key}]: kept (--resume, trained on the current data)")
            continue
        try:
            run("train_models", config.key, {"ops": {"embedding_model": {"config": {"workers": workers}}}})
        except RetrainError as error:
            print(f"   {error}", file=sys.stderr)
            failures.append(config.key)
    if len(failures) == len(configs):
        raise RetrainError(f"every config failed to train: {', '.join(failures)}")
    run(
        "select_best_model",
        run_config={"ops": {"best_model": {"config": {"require_all_configs": not failures}}}},
    )
    with defs.get_asset_value_loader(instance=instance) as loader:
        result = loader.load_asset_value("test_evaluation")
    if failures:
        raise RetrainFailure(result, failures)
    return result


def _use_dagster_home() -> Path:
    home = default_dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_SETTINGS, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _retrain_command(args: argparse.Namespace) -> int:
    home = _use_dagster_home()
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Dagster instance: {home}\nData directory: {settings.data_dir}")
    print(f"Playlists: {settings.playlists_path or 'built-in demo data'}")
    print(f"Search space: {settings.search_space_path}")
    failure = None
    try:
        with dg.DagsterInstance.get() as instance:
            result = retrain(settings, instance, resume=args.resume, workers=args.workers)
    except SearchSpaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RetrainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except RetrainFailure as error:
        failure, result = error, error.result
    k = result["k"]
    print(
        f"\nBest config: {result['config_key']}\n"
        f"  validation hit rate@{k}: {result['validation_hit_rate']:.4f}\n"
        f"  test hit rate@{k}:       {result['test_hit_rate']:.4f}\n"
        f"  baselines on test: most popular {result['baseline_most_popular_hit_rate']:.4f},"
        f" item-to-item {result['baseline_item_to_item_hit_rate']:.4f}\n"
        f"  model: {settings.models_location.rstrip('/')}/best_model.npz\n"
        "See every run and its metadata with `make dev` (Dagster UI)."
    )
    if failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


def resolve_tracks(vectors: KeyedVectors, queries: Sequence[str]) -> tuple[list[str], list[str]]:
    """Track ids for the user's words: ids as given, names by search; and the problems found."""
    tracks, problems = [], []
    for text in queries:
        if TRACK_ID_SEPARATOR in text:
            tracks.append(text)
            continue
        matches = search_tracks(vectors, text, limit=11)
        if len(matches) == 1:
            tracks.append(matches[0])
        elif not matches:
            problems.append(f"no track matches {text!r}")
        else:
            listed = "\n".join(f"    {match}" for match in matches[:10])
            more = " (and more)" if len(matches) > 10 else ""
            problems.append(f"{text!r} matches several tracks{more}; give one as artist|||track:\n{listed}")
    return tracks, problems


def _recommend_command(args: argparse.Namespace) -> int:
    _use_dagster_home()
    try:
        with dg.DagsterInstance.get() as instance:
            model = load_best_model(instance)
    except dg.Failure as error:
        print(f"error: {error.description}", file=sys.stderr)
        return 1
    tracks, problems = resolve_tracks(model.vectors, args.tracks)
    if problems:
        print("\n".join(f"error: {problem}" for problem in problems), file=sys.stderr)
        return 2
    result = recommend(model.vectors, tracks, args.k, QueryStrategy(**model.strategy), model.seed)
    print(f"Model {model.config_key}; query: {result.query}")
    if result.unknown_tracks:
        print(f"Not in the model's vocabulary: {', '.join(result.unknown_tracks)}")
    print(f"{'rank':>4}  {'score':>7}  artist — track")
    for rank, (track, score) in enumerate(result.tracks, start=1):
        artist, name = split_track_id(track)
        print(f"{rank:>4}  {score:>7.3f}  {artist} — {name}")
    return 0


def _models_command(_: argparse.Namespace) -> int:
    _use_dagster_home()
    with dg.DagsterInstance.get() as instance:
        rows = trained_models(instance)
    if not rows:
        print("No configs registered: run `recsys-assets retrain` first.")
        return 1
    columns = [
        "validation_hit_rate@10",
        "validation_hit_rate@50",
        "validation_hit_rate@100",
        "validation_mrr@100",
        "validation_ndcg@100",
        "vocabulary_size",
        "train_seconds",
    ]
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
        "--workers", type=int, default=1, help="Word2Vec threads per config (1: bit-reproducible models)"
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
    recommend_parser.add_argument("-k", type=int, default=10, help="how many tracks to recommend (10)")
    recommend_parser.set_defaults(handler=_recommend_command)
    commands.add_parser("models", help="the trained configs and their validation metrics").set_defaults(
        handler=_models_command
    )
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
