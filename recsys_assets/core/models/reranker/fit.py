"""Fitting a re-ranker without leaks: its ranking learns from training playlists its candidate
generators did not see (in folds, the generators refitted on the rest), the held-out playlists'
last tracks the answers, and a fifth of those cases chooses how many trees it keeps."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys_assets.core.data.cases import EvaluationCases
from recsys_assets.core.data.corpus import corpus_codes
from recsys_assets.core.data.statistics import TrainStatistics
from recsys_assets.core.models.family import FitContext, Fitted
from recsys_assets.core.models.hybrid.parts import build_parts
from recsys_assets.core.models.reranker.scorer import (
    PART_FEATURES,
    TRACK_FEATURES,
    CandidateFeatures,
    Reranker,
    feature_names,
)
from recsys_assets.core.models.sparse import validated_both_ways

FOLDS = 5
"""The training playlists are split in this many folds; folds are held out one after another
until the config's `cases` playlists are held out (all of them on small data)."""
PATIENCE = 30
"""Trees are added until this many in a row leave the held-back cases' NDCG@K no better."""
MIN_LEARNING_CASES = 10
"""Held-out playlists whose last track is among their candidates that a fit needs at least."""
MIN_CASES_PER_LEAF = 50
"""Candidates a leaf of a tree holds at least, so that no leaf learns a handful of playlists."""


@dataclass(frozen=True)
class RankingSettings:
    """The re-ranker's own parameters: candidates per generator, held-out playlists, and the
    trees' most number, leaves and learning rate."""

    per_part: int
    cases: int
    trees: int
    leaves: int
    learning_rate: float

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> RankingSettings:
        return cls(
            per_part=params["candidates"],
            cases=params["held_out_playlists"],
            trees=params["trees"],
            leaves=params["leaves"],
            learning_rate=params["learning_rate"],
        )


@dataclass(frozen=True)
class HeldOut:
    """The training playlists split for a leak-free fit: the rest's `codes` and `lengths`, their
    statistics, and the held-out playlists as cases (all tracks but the last, then the last)."""

    codes: np.ndarray
    lengths: np.ndarray
    statistics: TrainStatistics
    cases: EvaluationCases


def held_out_folds(
    statistics: TrainStatistics, codes: np.ndarray, lengths: np.ndarray, cases: int, folds: int, seed: int
) -> list[HeldOut]:
    """The training playlists of at least 2 tracks in `folds` seeded folds, as many folds as
    hold out about `cases` playlists in all: each fold's playlists held out, with the statistics
    of the rest (plays counted without them)."""
    starts = np.cumsum(lengths) - lengths
    eligible = np.random.default_rng(seed).permutation(np.flatnonzero(lengths >= 2))
    fold_size = max(len(eligible) // folds, 1)
    tracks = statistics.tracks
    none = np.zeros(0, dtype=np.int64)
    result = []
    for fold in range(folds):
        taken = sum(len(held.cases) for held in result)
        if taken >= cases:
            break
        chosen = np.sort(eligible[fold * fold_size : (fold + 1) * fold_size][: cases - taken])
        held = np.zeros(len(lengths), dtype=bool)
        held[chosen] = True
        kept_codes = codes[~np.repeat(held, lengths)]
        plays = np.bincount(kept_codes, minlength=len(tracks)).astype(np.int64)
        inputs = [tracks[codes[starts[line] : starts[line] + lengths[line] - 1]].tolist() for line in chosen]
        targets = [str(tracks[codes[starts[line] + lengths[line] - 1]]) for line in chosen]
        result.append(
            HeldOut(
                kept_codes,
                lengths[~held],
                TrainStatistics.from_counts(tracks, plays, none, none, none),
                EvaluationCases(inputs, [""] * len(inputs), targets),
            )
        )
    return result


def learning_table(
    candidates: CandidateFeatures, cases: EvaluationCases, rows_per_batch: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates of the cases whose held-out track is among them: features (entries,
    features), labels (entries,) 1 for the held-out track, and each case's candidates (cases,)."""
    targets = candidates.statistics.index_of(cases.targets)
    features, labels, groups = [], [], []
    for start in range(0, len(cases), rows_per_batch):
        stop = min(start + rows_per_batch, len(cases))
        union, table = candidates.features(cases.inputs[start:stop])
        rows = np.repeat(np.arange(stop - start), np.diff(union.indptr))
        hit = union.indices == targets[start:stop][rows]
        found = np.bincount(rows[hit], minlength=stop - start) > 0
        kept = found[rows]
        features.append(table[kept])
        labels.append(hit[kept].astype(np.float32))
        groups.append(np.diff(union.indptr)[found])
    return np.concatenate(features), np.concatenate(labels), np.concatenate(groups)


def train_ranking(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    settings: RankingSettings,
    k: int,
    seed: int,
    threads: int,
):
    """A LightGBM lambdarank booster (`lightgbm.Booster`) learnt on the first four fifths of the
    `groups` (cases, each its candidates' count) of `features` (entries, features) and `labels`
    (entries,), its trees cut where the last fifth's NDCG@`k` stopped improving."""
    import lightgbm

    names = feature_names((features.shape[1] - len(TRACK_FEATURES)) // len(PART_FEATURES))
    split = int(len(groups) * 0.8)
    boundary = int(groups[:split].sum())
    train = lightgbm.Dataset(features[:boundary], labels[:boundary], group=groups[:split], feature_name=names)
    stop = lightgbm.Dataset(
        features[boundary:], labels[boundary:], group=groups[split:], reference=train, feature_name=names
    )
    parameters = {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [k],
        "num_leaves": settings.leaves,
        "learning_rate": settings.learning_rate,
        "min_data_in_leaf": MIN_CASES_PER_LEAF,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": threads,
        "verbosity": -1,
    }
    return lightgbm.train(
        parameters,
        train,
        num_boost_round=settings.trees,
        valid_sets=[stop],
        callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False)],
    )


def fit_reranker(params: dict[str, Any], context: FitContext) -> Fitted:
    """Learn the ranking on held-out training playlists (`FOLDS` folds, the generators refitted
    on the rest of each), then fit the generators on every training playlist and score the
    re-ranker on every validation case; train seconds count both."""
    started = time.perf_counter()
    statistics = context.statistics
    codes, lengths = corpus_codes(context.corpus)
    settings = RankingSettings.of(params)
    tables, held_out = [], 0
    folds = held_out_folds(statistics, codes, lengths, settings.cases, FOLDS, context.seed)
    for fold in folds:
        candidates = CandidateFeatures.of_playlists(
            build_parts(params, fold.statistics, fold.codes, fold.lengths),
            fold.statistics,
            settings.per_part,
            fold.codes,
            fold.lengths,
        )
        tables.append(learning_table(candidates, fold.cases))
        held_out += len(fold.cases)
        if context.on_progress:
            context.on_progress("held-out playlists with candidates", held_out, settings.cases)
    features, labels, groups = (np.concatenate(column) for column in zip(*tables, strict=True))
    if len(groups) < MIN_LEARNING_CASES:
        raise ValueError(
            f"the re-ranker's candidates hold the last track of {len(groups)} of {held_out} held-out"
            f" training playlists; it needs at least {MIN_LEARNING_CASES} to learn from: train it on"
            " more playlists or give it more `candidates`"
        )
    booster = train_ranking(features, labels, groups, settings, context.k, context.seed, context.workers)
    candidates = CandidateFeatures.of_playlists(
        build_parts(params, statistics, codes, lengths), statistics, settings.per_part, codes, lengths
    )
    model = Reranker(candidates, booster)
    validation, leaving_out = validated_both_ways(model, context)
    importances = booster.feature_importance("gain")
    return Fitted(
        model,
        validation,
        dict(params),
        train_seconds=time.perf_counter() - started,
        validation_leaving_out=leaving_out,
        notes={
            "held_out_cases": held_out,
            "candidate_recall_held_out": round(len(groups) / max(held_out, 1), 4),
            "learning_rows": len(labels),
            "trees": booster.best_iteration or booster.current_iteration(),
            "feature_importance_share": {
                name: round(float(gain / max(importances.sum(), 1e-12)), 4)
                for gain, name in sorted(zip(importances, booster.feature_name(), strict=True), reverse=True)
            },
        },
    )
