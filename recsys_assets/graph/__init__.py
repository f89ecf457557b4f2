"""The Dagster layer: assets, checks, partitions, resources, IO managers and jobs over the core."""
