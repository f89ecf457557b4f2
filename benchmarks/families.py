"""Every family and the re-ranker against the baselines on validation and test, with fit and
scoring time, peak memory and the re-ranker's candidate recall.

Generates the demo data, builds the tables and training files as a data build does, fits each
config through the retrain's own `fit_config` (validated both ways, the better served) and
scores it on test through the one scoring path. The configs are the packaged search space's
(Word2Vec's only with --word2vec: minutes at the Spotify size) and a few variants.

    python benchmarks/families.py [--size small|daylists|spotify] [--word2vec] [--work /tmp/recsys-families]
"""

import argparse
import time
from pathlib import Path

import numpy as np
from measure import build_demo, peak_mib

from recsys_assets.core.data.demo_data import DEMO_SIZES
from recsys_assets.core.evaluation.evaluator import evaluate
from recsys_assets.core.evaluation.metrics import metric_name
from recsys_assets.core.models.baselines import baselines
from recsys_assets.core.models.family import FitContext
from recsys_assets.core.models.registry import make_config
from recsys_assets.core.models.reranker.scorer import Reranker
from recsys_assets.core.models.trained import fit_config
from recsys_assets.core.search.space import load_search_space
from recsys_assets.settings import PACKAGED_SEARCH_SPACE

VARIANTS = [
    ("rules", {"steps": 10, "last_n": 1}),
    ("rules", {"steps": 20, "weighting": "quadratic"}),
    ("session_knn", {"weighting": "linear", "idf_weight": 0.0}),
    ("session_knn", {"decay": 10.0}),
    (
        "reranker",
        {"rules_last_n": 3, "rules_weighting": "div", "knn_k": 100, "knn_weighting": "div"}
        | {"knn_idf_weight": 1.0, "knn_decay": 0.0},
    ),
]
"""Configs beside the packaged ones: the variants the benchmarks README reports."""


def candidate_recall(model: Reranker, cases) -> float:
    """The share of `cases` whose held-out track is among the re-ranker's candidates."""
    targets = model.statistics.index_of(cases.targets)
    found = 0
    for start in range(0, len(cases), model.rows_per_batch):
        stop = min(start + model.rows_per_batch, len(cases))
        union, _ = model.candidates.features(cases.inputs[start:stop])
        rows = np.repeat(np.arange(stop - start), np.diff(union.indptr))
        found += len(np.unique(rows[union.indices == targets[start:stop][rows]]))
    return found / max(len(cases), 1)


def _row(name: str, validation: dict[str, float], test: dict[str, float], k: int, seconds: str) -> str:
    cells = [
        metrics[metric_name(metric, cutoff)]
        for metrics in (validation, test)
        for metric, cutoff in (("hit_rate", 10), ("hit_rate", k), ("mrr", k))
    ]
    return f"{name:<62}" + "".join(f"{cell:>13.4f}" for cell in cells) + f"{seconds:>24}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=sorted(DEMO_SIZES))
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--word2vec", action="store_true", help="fit the packaged Word2Vec configs too")
    parser.add_argument("--work", type=Path, default=Path("/tmp/recsys-families"))
    args = parser.parse_args()
    k, seed = args.k, 42

    validation, test, training = build_demo(args.size, args.work, seed)
    train = training.statistics
    columns = [f"{split} {m}" for split in ("val", "test") for m in ("hit@10", f"hit@{k}", f"mrr@{k}")]
    print(f"\n{'model':<62}" + "".join(f"{c:>13}" for c in columns) + f"{'fit+val / test s, MiB':>24}")
    hit_rate = metric_name("hit_rate", k)
    results: dict[str, dict[str, float]] = {}
    for name, recommender in baselines(train).items():
        started = time.perf_counter()
        scored = evaluate(recommender, validation, k)
        seconds = time.perf_counter() - started
        results[name] = evaluate(recommender, test, k)
        print(_row(f"baseline: {name}", scored, results[name], k, f"- / {seconds:.1f}"))

    configs = [
        config
        for config in load_search_space(PACKAGED_SEARCH_SPACE)
        if args.word2vec or config.family != "word2vec"
    ]
    configs += [make_config("benchmark", family, given) for family, given in VARIANTS]
    context = FitContext(training.corpus, train, validation, seed=seed, k=k, workers=2)
    families, recalls = {}, {}
    for config in configs:
        model = fit_config(config, context, "benchmark").model
        started = time.perf_counter()
        served = model.recommender(train)
        results[config.key] = evaluate(served, test, k)
        tested = time.perf_counter() - started
        families[config.key] = config.family
        shown = f"{model.train_seconds:.1f} / {tested:.1f}, {peak_mib():,}"
        print(_row(config.key, model.validation, results[config.key], k, shown))
        if isinstance(model.fitted, Reranker):
            recalls[config.key] = candidate_recall(model.fitted, test)

    learned = [key for key, family in families.items() if family == "reranker"]
    fixed = [key for key, family in families.items() if family != "reranker"]
    best_fixed = max(fixed, key=lambda key: results[key][hit_rate])
    item_to_item = results["item_to_item"]
    print(
        f"\nBest non-learned config on test: {best_fixed}, hit rate@{k} {results[best_fixed][hit_rate]:.4f}."
    )
    for key in learned:
        print(
            f"{key}: test hit rate@{k} {results[key][hit_rate]:.4f},"
            f" {results[key][hit_rate] / results[best_fixed][hit_rate]:.3f}x the best non-learned config,"
            f" {results[key][hit_rate] / item_to_item[hit_rate]:.2f}x item-to-item;"
            f" MRR@{k} {results[key][metric_name('mrr', k)]:.4f} against item-to-item's"
            f" {item_to_item[metric_name('mrr', k)]:.4f}; candidate recall on test {recalls[key]:.4f}"
        )
    print(f"Peak memory {peak_mib():,} MiB.")


if __name__ == "__main__":
    main()
