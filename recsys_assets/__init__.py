"""recsys_assets: next-track recommendation models trained, tuned and chosen as Dagster assets.

Importing the package (or its pure `core`) loads neither Dagster nor the environment; Dagster's
tools find the lazy `defs` entry point here (`dagster asset materialize -m recsys_assets ...`).
"""


def __getattr__(name: str):
    if name == "defs":
        from recsys_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'recsys_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
