"""The default search space against the adaptive search over every family, through retrain.

Generates the demo data (Spotify size by default) and retrains with the packaged search space.
Then, in the same instance, `retrain --resume` with the packaged tuning file, which holds the
same fixed configs: they are kept as trained, and its [search] table runs with its time budget
set to `--budget-minutes` (by default the time the default retrain took), starting from their
results. Prints both winners' validation and test hit rate@10/@100, every trial (pruned or not),
and when the search first matched the default's best.

    python benchmarks/search.py [--size spotify] [--workers 2] [--budget-minutes M] [--work DIR]
"""

import argparse
import re
import resource
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import dagster as dg

from recsys_assets.core.data.demo_data import DEMO_SIZES, write_demo_rows
from recsys_assets.graph.history import latest_materialization, latest_metadata
from recsys_assets.graph.partitions import model_configs
from recsys_assets.retrain import retrain
from recsys_assets.settings import PACKAGED_SEARCH_SPACE, Settings

TUNING_FILE = PACKAGED_SEARCH_SPACE.with_name("search_space_tune.toml")


def _tuning_file(budget_minutes: float) -> str:
    """The tuning file with its trials unlimited in practice and its time budget set."""
    text = TUNING_FILE.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^trials = \d+.*$", "trials = 1000", text)
    return re.sub(r"(?m)^time_budget_minutes = .*$", f"time_budget_minutes = {budget_minutes:.2f}", text)


def _run(
    settings: Settings, instance: dg.DagsterInstance, workers: int, resume: bool
) -> tuple[float, dict, list[dict]]:
    """Retrain; return its seconds, the test evaluation and the record of each config it trained."""
    started = time.time()
    result = retrain(settings, instance, resume=resume, workers=workers)
    seconds = time.time() - started
    trained = []
    for key in instance.get_dynamic_partitions(model_configs.name):
        record = latest_materialization(instance, "embedding_model", key)
        if record and record.timestamp >= started:
            finished = instance.get_run_stats(record.run_id).end_time - started
            trained.append(
                {"key": key, "finished": finished, **latest_metadata(instance, "embedding_model", key)}
            )
    return seconds, result, sorted(trained, key=lambda config: config["finished"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="spotify", choices=sorted(DEMO_SIZES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget-minutes", type=float, default=None, help="the search's time budget")
    parser.add_argument("--work", type=Path, default=Path("/tmp/recsys-search"))
    args = parser.parse_args()
    rows = write_demo_rows(args.work / "demo", DEMO_SIZES[args.size])
    default = Settings(
        playlists_path=rows,
        data_dir=args.work / "data",
        search_space_path=PACKAGED_SEARCH_SPACE,
        study_url=f"sqlite:///{args.work / 'study.db'}",
    )
    (args.work / "study.db").unlink(missing_ok=True)
    (args.work / "home").mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(args.work / "home")) as instance:
        default_seconds, default_result, default_configs = _run(default, instance, args.workers, resume=False)
        default_best = max(config["validation_hit_rate"] for config in default_configs)
        print(
            f"\nDefault configs: retrain {default_seconds / 60:.1f} min,"
            f" best validation @100 {default_best:.4f}"
        )
        budget = args.budget_minutes or default_seconds / 60
        tuning = args.work / "tuning.toml"
        tuning.write_text(_tuning_file(budget), encoding="utf-8")
        search_seconds, search_result, trials = _run(
            replace(default, search_space_path=tuning), instance, args.workers, resume=True
        )

    print(f"\n{'config':<58}{'val@10':>8}{'val@100':>9}{'trained':>13}{'finished':>10}")
    for config in default_configs + trials:
        epochs = config.get("pruned_at_epoch")
        print(
            f"{config['key']:<58}{config['validation_hit_rate@10']:>8.4f}{config['validation_hit_rate']:>9.4f}"
            f"{f'pruned at {epochs}' if epochs else 'all epochs':>13}{config['finished'] / 60:>9.1f}m"
        )
    for name, result in (("default", default_result), ("with search", search_result)):
        print(
            f"{name:>13}: best {result.config_key} ({result.strategy}): validation @100"
            f" {result.validation_hit_rate:.4f}; test @10 {result.metrics['hit_rate@10']:.4f},"
            f" @100 {result.test_hit_rate:.4f}"
        )
    if not trials:
        print("the search trained no trial")
        return
    search_best = max(trial["validation_hit_rate"] for trial in trials)
    reached = [trial["finished"] for trial in trials if trial["validation_hit_rate"] >= default_best]
    when = (
        f"matched the default's best after {min(reached) / 60:.1f} min"
        if reached
        else "never matched the default's best"
    )
    pruned = sum("pruned_at_epoch" in trial for trial in trials)
    families = Counter(trial.get("family", "Word2Vec") for trial in trials)
    print(
        f"search: {len(trials)} trials ({pruned} pruned; {dict(families)}) in {search_seconds / 60:.1f} min"
        f" (budget {budget:.1f} min for proposing trials); best trial {search_best:.4f} ="
        f" {search_best / default_best:.2f}x the default's best (target 1.05x); {when}"
    )
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB")


if __name__ == "__main__":
    main()
