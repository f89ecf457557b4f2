"""The retrain plan: on which data build the configs train, which still need training on it, and
when and how to select. `recsys-assets retrain` and the nightly chain's sensors both follow it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from recsys_assets.graph.history import MODEL_ASSET, latest_materialization, trained_on, training_failed_since


@dataclass(frozen=True)
class RetrainPlan:
    """Where the retrain of the configs `configs` on the data build `data` stands."""

    data: dg.EventLogRecord
    configs: tuple[str, ...]
    untrained: tuple[str, ...]
    """Configs with no model trained on `data`: the ones to train (a failed one is tried again)."""
    failed: tuple[str, ...]
    """Untrained configs whose latest training run since `data` failed."""

    @property
    def waiting(self) -> tuple[str, ...]:
        """Untrained configs whose training has not failed: training is still to come or running."""
        return tuple(key for key in self.untrained if key not in self.failed)

    @property
    def trained(self) -> tuple[str, ...]:
        return tuple(key for key in self.configs if key not in self.untrained)

    @property
    def ready_to_select(self) -> bool:
        """Every config is trained on `data` or failed, and at least one is trained."""
        return not self.waiting and bool(self.trained)

    def selection_config(self, **extra: Any) -> dict[str, Any]:
        """The run config of a selection by this plan: the configs it compares, and whether a
        missing one is an error (none failed) or is left out and named."""
        selection = {"require_all_configs": not self.failed, "expected_configs": list(self.configs), **extra}
        return {"ops": {"best_model": {"config": selection}}}


def retrain_plan(
    instance: dg.DagsterInstance, configs: Sequence[str], data: dg.EventLogRecord
) -> RetrainPlan:
    """The plan for training `configs` on the data build `data`, from what the instance recorded."""
    untrained = tuple(
        key for key in configs if not trained_on(latest_materialization(instance, MODEL_ASSET, key), data)
    )
    failed = tuple(key for key in untrained if training_failed_since(instance, key, data.timestamp))
    return RetrainPlan(data, tuple(configs), untrained, failed)
