"""recsys_assets: next-track recommendation models trained, tuned and chosen as Dagster assets."""

from recsys_assets.definitions import defs

__all__ = ["defs"]
