"""Partitions: one dynamic partition per hyperparameter config of the search space."""

import dagster as dg

model_configs = dg.DynamicPartitionsDefinition(name="model_configs")
