"""The Dagster layer: assets, partitions, resources, IO managers and jobs wrapping the core."""
