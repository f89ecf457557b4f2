"""Who answers for the assets, as their pages and the catalog show it."""

ASSET_OWNERS = ["team:recsys"]
"""The owners of every asset: the team that runs the pipeline (a Dagster `team:` owner)."""
