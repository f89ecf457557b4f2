"""Partitions: one dynamic partition per hyperparameter config of the search space."""

from collections.abc import Sequence

import dagster as dg

from recsys_assets.core.search.space import partition_changes

model_configs = dg.DynamicPartitionsDefinition(name="model_configs")


def sync_config_partitions(instance: dg.DagsterInstance, keys: Sequence[str]) -> tuple[list[str], list[str]]:
    """Make the registered config partitions equal `keys`; return the keys added and removed."""
    added, removed = partition_changes(set(instance.get_dynamic_partitions(model_configs.name)), list(keys))
    if added:
        instance.add_dynamic_partitions(model_configs.name, added)
    for key in removed:
        instance.delete_dynamic_partition(model_configs.name, key)
    return added, removed
