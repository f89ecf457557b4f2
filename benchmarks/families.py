"""Sequential rules and session kNN against the baselines on validation and test, with fit
and scoring time and peak memory.

Generates the demo data, builds the tables and training files as a data build does, fits each
rules and session kNN variant from the corpus file and scores it on both splits through the one
scoring path.

    python benchmarks/families.py [--size small] [--work /tmp/recsys-families]
"""

import argparse
import time
from pathlib import Path

from measure import build_demo, peak_mib

from recsys_assets.core.data.corpus import corpus_codes
from recsys_assets.core.data.demo_data import DEMO_SIZES
from recsys_assets.core.evaluation.evaluator import evaluate, ranking_summary
from recsys_assets.core.evaluation.metrics import metric_name, ranking_metrics
from recsys_assets.core.models.baselines import baselines
from recsys_assets.core.models.hybrid.family import RULES_WEIGHTS
from recsys_assets.core.models.hybrid.scorer import Hybrid
from recsys_assets.core.models.rules.scorer import SequentialRules, fit_rules
from recsys_assets.core.models.session_knn.scorer import SessionKnn, playlist_matrix, playlist_positions

RULES_VARIANTS = {
    "rules, last track, steps 10, 1/d": {"steps": 10, "weighting": "div", "last_n": 1},
    "rules, last 3 tracks, steps 10, 1/d": {"steps": 10, "weighting": "div", "last_n": 3},
    "rules, last 3 tracks, steps 20, 1/d^2": {"steps": 20, "weighting": "quadratic", "last_n": 3},
}

KNN_VARIANTS = {
    "session kNN, k 100, p/L": {"k": 100, "weighting": "linear", "idf_weight": 0.0, "decay": 0.0},
    "session kNN, k 100, 1/distance, idf": {"k": 100, "weighting": "div", "idf_weight": 1.0, "decay": 0.0},
    "session kNN, k 100, 1/d, idf, decay 10": {
        "k": 100,
        "weighting": "div",
        "idf_weight": 1.0,
        "decay": 10.0,
    },
}


def _row(name: str, validation: dict[str, float], test: dict[str, float], k: int, seconds: str) -> str:
    cells = [
        metrics[metric_name(metric, cutoff)]
        for metrics in (validation, test)
        for metric, cutoff in (("hit_rate", 10), ("hit_rate", k), ("mrr", k))
    ]
    return f"{name:<42}" + "".join(f"{cell:>13.4f}" for cell in cells) + f"{seconds:>16}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=sorted(DEMO_SIZES))
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path("/tmp/recsys-families"))
    args = parser.parse_args()
    k, seed = args.k, 42

    validation, test, training = build_demo(args.size, args.work, seed)
    splits = {"validate": validation, "test": test}
    train = training.statistics
    columns = [f"{split} {m}" for split in ("val", "test") for m in ("hit@10", f"hit@{k}", f"mrr@{k}")]
    print(f"\n{'model':<42}" + "".join(f"{c:>13}" for c in columns) + f"{'fit / val s':>16}")
    hit_rate = metric_name("hit_rate", k)
    results: dict[str, dict[str, float]] = {}
    for name, recommender in baselines(train).items():
        started = time.perf_counter()
        validation = evaluate(recommender, splits["validate"], k)
        scored = time.perf_counter() - started
        test = evaluate(recommender, splits["test"], k)
        results[name] = test
        print(_row(f"baseline: {name}", validation, test, k, f"- / {scored:.1f}"))

    started = time.perf_counter()
    codes, lengths = corpus_codes(training.corpus)
    read = time.perf_counter() - started
    for name, params in RULES_VARIANTS.items():
        started = time.perf_counter()
        rules = fit_rules(codes, lengths, len(train.tracks), params["steps"], params["weighting"])
        model = SequentialRules(rules, train, last_n=params["last_n"], recency="div")
        fitted = time.perf_counter() - started
        started = time.perf_counter()
        validation = evaluate(model, splits["validate"], k)
        scored = time.perf_counter() - started
        test = evaluate(model, splits["test"], k)
        results[name] = test
        print(_row(name, validation, test, k, f"{fitted:.1f} / {scored:.1f}"))
    matrix = playlist_matrix(codes, lengths, len(train.tracks))
    positions = playlist_positions(codes, lengths)
    for name, params in KNN_VARIANTS.items():
        started = time.perf_counter()
        model = SessionKnn(matrix, train, **params, positions=positions if params.get("decay") else None)
        validation = evaluate(model, splits["validate"], k)
        scored = time.perf_counter() - started
        test = evaluate(model, splits["test"], k)
        results[name] = test
        print(_row(name, validation, test, k, f"- / {scored:.1f}"))
    rules_part = SequentialRules(fit_rules(codes, lengths, len(train.tracks), 10, "div"), train, 3, "div")
    knn_part = SessionKnn(matrix, train, k=100, weighting="div", idf_weight=1.0, decay=0.0)
    started = time.perf_counter()
    grid = [(weight, round(1 - weight, 10)) for weight in RULES_WEIGHTS]
    hybrid = Hybrid((rules_part, knn_part), grid[0], train)
    tried = hybrid.ranks_for_weights(splits["validate"], grid)
    chosen = max(grid, key=lambda w: (ranking_metrics(tried[w], k)[hit_rate], -w[0]))
    searched = time.perf_counter() - started
    model = Hybrid((rules_part, knn_part), chosen, train)
    validation = ranking_summary(model.ranking_of(splits["validate"], tried[chosen], k), k)
    name = f"hybrid {chosen[0]:.1f} rules + {chosen[1]:.1f} kNN"
    test = evaluate(model, splits["test"], k)
    results[name] = test
    print(_row(name, validation, test, k, f"grid {searched:.1f}"))
    best = max([*RULES_VARIANTS, *KNN_VARIANTS, name], key=lambda n: results[n][hit_rate])
    print(
        f"\nCorpus codes read in {read:.1f} s. Best on test: {best},"
        f" hit rate@{k} {results[best][hit_rate]:.4f} against item-to-item"
        f" {results['item_to_item'][hit_rate]:.4f}"
        f" ({results[best][hit_rate] / results['item_to_item'][hit_rate]:.2f}x)."
        f" Peak memory {peak_mib()} MiB."
    )


if __name__ == "__main__":
    main()
