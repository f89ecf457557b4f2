"""Every (config, strategy) pair and both baselines on validation and test, and what ships.

Generates the demo data (Spotify size by default), builds the tables, trains each config of the
search space, scores it under every strategy on both splits, and prints hit rate@10/@K and MRR@K
of each pair, the pair `best_model` would ship (best validation hit rate@K), and its test hit rate
against the item-to-item baseline's.

    python benchmarks/strategies.py [--size spotify] [--workers 2] [--work /tmp/recsys-strategies]
"""

import argparse
import resource
import time
from pathlib import Path

from measure import build_demo

from recsys_assets.core.data.demo_data import DEMO_SIZES
from recsys_assets.core.evaluation.evaluator import evaluate
from recsys_assets.core.evaluation.metrics import metric_name
from recsys_assets.core.models.baselines import baselines
from recsys_assets.core.models.word2vec.embedding import TrackEmbedding
from recsys_assets.core.models.word2vec.strategy_choice import (
    StrategyResult,
    choose_strategy,
    score_strategies,
)
from recsys_assets.core.models.word2vec.train import train_embeddings
from recsys_assets.core.search.space import load_search_space
from recsys_assets.settings import PACKAGED_SEARCH_SPACE


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _row(name: str, validation: dict[str, float], test: dict[str, float], k: int, mark: str = "") -> str:
    cells = [
        metrics[metric_name(metric, cutoff)]
        for metrics in (validation, test)
        for metric, cutoff in (("hit_rate", 10), ("hit_rate", k), ("mrr", k))
    ]
    return f"{mark:2}{name:<72}" + "".join(f"{cell:>14.4f}" for cell in cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="spotify", choices=sorted(DEMO_SIZES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--search-space", type=Path, default=PACKAGED_SEARCH_SPACE)
    parser.add_argument("--work", type=Path, default=Path("/tmp/recsys-strategies"))
    args = parser.parse_args()
    k, seed = args.k, 42

    validation_cases, test_cases, training = build_demo(args.size, args.work, seed)
    train = training.statistics
    baseline_metrics = {
        name: tuple(evaluate(recommender, cases, k) for cases in (validation_cases, test_cases))
        for name, recommender in baselines(train).items()
    }

    shipped: tuple[str, StrategyResult, dict[str, float]] | None = None
    lines = []
    for config in load_search_space(args.search_space):
        started = time.perf_counter()
        vectors = train_embeddings(training.corpus, config.params, seed=seed, workers=args.workers)
        trained = time.perf_counter() - started
        started = time.perf_counter()
        on_validation = score_strategies(TrackEmbedding(vectors), validation_cases, train, seed, k)
        on_test = score_strategies(TrackEmbedding(vectors), test_cases, train, seed, k)
        scored = time.perf_counter() - started
        chosen = choose_strategy(on_validation, k)
        print(f"{config.key}: trained in {trained:.0f} s, every strategy on both splits in {scored:.0f} s")
        for validation, test in zip(on_validation, on_test, strict=True):
            mark = "* " if validation is chosen else ""
            lines.append(
                _row(f"{config.key} | {validation.strategy.label}", validation.metrics, test.metrics, k, mark)
            )
            hit_rate = metric_name("hit_rate", k)
            if validation is chosen and (
                shipped is None or validation.metrics[hit_rate] > shipped[1].metrics[hit_rate]
            ):
                shipped = (config.key, validation, test.metrics)

    columns = [
        f"{split} {metric}" for split in ("val", "test") for metric in ("hit@10", f"hit@{k}", f"mrr@{k}")
    ]
    print(f"\n{'':2}{'config | strategy':<72}" + "".join(f"{column:>14}" for column in columns))
    print("\n".join(lines))
    for name, (validation, test) in baseline_metrics.items():
        print(_row(f"baseline: {name}", validation, test, k))
    config_key, result, test = shipped
    hit_rate = metric_name("hit_rate", k)
    item_to_item = baseline_metrics["item_to_item"][1][hit_rate]
    print(
        f"\n(* chosen per config on validation)\nShipped: {config_key} | {result.strategy.label}\n"
        f"  test hit rate@{k} {test[hit_rate]:.4f} against item-to-item {item_to_item:.4f}:"
        f" {test[hit_rate] / item_to_item:.2f}x (target 1.2x)\n"
        f"  peak memory {_peak_gib():.1f} GiB"
    )


if __name__ == "__main__":
    main()
