"""What people read of an evaluation: verdicts against the baselines, and the records of the
baselines' and the served model's results."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import numpy as np

from recsys_assets.core.evaluation.metrics import metric_name


def baselines_beating(model_hit_rate: float, baseline_hit_rates: dict[str, float]) -> list[str]:
    """The baselines whose hit rate is at least the model's."""
    return [name for name, rate in baseline_hit_rates.items() if rate >= model_hit_rate]


def generalization_tolerance(hit_rate: float, validation_rows: int, test_rows: int) -> float:
    """How far a test hit rate may stray from the validation one by chance: three standard errors
    of the difference of two independent proportions near `hit_rate`, and at least 0.01."""
    variance = hit_rate * (1 - hit_rate)
    spread = np.sqrt(variance / max(validation_rows, 1) + variance / max(test_rows, 1))
    return float(max(0.01, 3 * spread))


@dataclass(frozen=True)
class BaselineResults:
    """The baselines' metrics at cutoff `k` on the validation and test splits of one data build,
    by baseline name."""

    data_version: str
    k: int
    validation: dict[str, dict[str, float]]
    test: dict[str, dict[str, float]]
    leaving_out_played: tuple[str, ...] = ()
    """The baselines whose lists leave the playlist's own tracks out, as chosen on validation
    (none in reports written before the choice)."""

    def hit_rates(self, split: str) -> dict[str, float]:
        """Each baseline's hit rate@k on `split` ("validation" or "test")."""
        results = self.validation if split == "validation" else self.test
        return {name: metrics[metric_name("hit_rate", self.k)] for name, metrics in results.items()}


def verdict_headline(model_hit_rate: float, baseline_hit_rates: dict[str, float]) -> str:
    """The verdict in a few words, for a narrow column: beats every baseline, or which ones beat
    or tie with the model."""
    beaten_by = baselines_beating(model_hit_rate, baseline_hit_rates)
    if not beaten_by:
        return "beats every baseline"
    ahead = [name for name in beaten_by if baseline_hit_rates[name] > model_hit_rate]
    return f"{'beaten by' if ahead else 'tied with'} {', '.join(ahead or beaten_by)}"


def verdict(model_hit_rate: float, baseline_hit_rates: dict[str, float], k: int, split: str) -> str:
    """One plain sentence: does the model beat every baseline on `split`?"""
    beaten_by = baselines_beating(model_hit_rate, baseline_hit_rates)
    if not beaten_by:
        return f"The model beats every baseline on {split} (hit rate@{k} {model_hit_rate:.4f})."
    ahead = [name for name in beaten_by if baseline_hit_rates[name] > model_hit_rate]
    return (
        f"A baseline {'beats' if ahead else 'ties with'} the model on {split}: "
        + ", ".join(f"{name} {baseline_hit_rates[name]:.4f}" for name in beaten_by)
        + f" against the model's {model_hit_rate:.4f} (hit rate@{k})."
    )


@dataclass(frozen=True)
class TestEvaluation:
    """The shipped model on the test split: under its strategy and the tutorial flow's, beside
    the baselines, with the verdict people read."""

    __test__ = False

    config_key: str
    strategy: str
    k: int
    metrics: dict[str, float]
    seed_strategy_metrics: dict[str, float] | None
    """The same vectors under the tutorial flow's strategy; None for a model without vectors."""
    test_rows: int
    validation_hit_rate: float
    baseline_hit_rates: dict[str, float]
    verdict: str

    @property
    def test_hit_rate(self) -> float:
        return self.metrics[metric_name("hit_rate", self.k)]

    @property
    def test_hit_rate_seed_strategy(self) -> float | None:
        """The hit rate under the tutorial flow's strategy (None for a model without vectors)."""
        if self.seed_strategy_metrics is None:
            return None
        return self.seed_strategy_metrics[metric_name("hit_rate", self.k)]


Report = BaselineResults | TestEvaluation


def report_json(report: Report) -> str:
    """The report as JSON text that names its kind (read back by `report_from_json`)."""
    return json.dumps({"report": type(report).__name__, "fields": asdict(report)}, indent=1)


def report_from_json(text: str, source: str) -> Report:
    """The report `report_json` wrote; a ValueError naming `source` when the text holds none."""
    kinds = {kind.__name__: kind for kind in (BaselineResults, TestEvaluation)}
    try:
        document = json.loads(text)
        kind = kinds[document["report"]]
        given = document["fields"]
        return kind(
            **{
                item.name: tuple(given[item.name]) if isinstance(given[item.name], list) else given[item.name]
                for item in fields(kind)
                if item.name in given
            }
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{source}: not a report, expected JSON naming one of {', '.join(kinds)} ({error!r})"
        ) from None


EARLY_PEAK_DROP = 0.1
"""How far (as a share of its peak) a learning curve's last point may fall below its peak before
the config counts as trained past its best."""


def early_peak(config_key: str, curve: dict[int, float], k: int, kept: int | None = None) -> str | None:
    """One sentence when the model's vectors (those of epoch `kept`, else the last) score more
    than `EARLY_PEAK_DROP` below the learning `curve`'s peak (hit rate@k by epochs trained),
    else None."""
    if len(curve) < 2:
        return None
    last = kept if kept in curve else max(curve)
    peak = max(curve, key=lambda epoch: (curve[epoch], -epoch))
    if curve[last] >= (1 - EARLY_PEAK_DROP) * curve[peak]:
        return None
    return (
        f"{config_key}'s embedding peaked at hit rate@{k} {curve[peak]:.4f} after {peak} epochs and"
        f" ended at {curve[last]:.4f} after {last}: fewer epochs (or a patience) may train a better"
        " model."
    )
