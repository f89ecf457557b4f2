"""Where model files live under the models folder (a local path or any fsspec URL).

`<models>/<asset>.npz` or `<models>/<asset>/<partition>.npz` is the file served now;
`<models>/versions/<asset>[/<partition>]/<run id>.npz` keeps every materialization for good.
"""

from __future__ import annotations

MODEL_EXTENSION = ".npz"
VERSIONS_FOLDER = "versions"


def _joined(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def served_model_location(base: str, asset: str, partition: str | None = None) -> str:
    """The file a model asset (or one of its config partitions) serves now."""
    name = f"{asset}/{partition}" if partition else asset
    return _joined(base, f"{name}{MODEL_EXTENSION}")


def model_version_location(base: str, asset: str, partition: str | None, run_id: str) -> str:
    """The file that keeps the model of run `run_id` for good."""
    folder = [VERSIONS_FOLDER, asset, *([partition] if partition else [])]
    return _joined(base, *folder, f"{run_id}{MODEL_EXTENSION}")


def versions_location(base: str) -> str:
    """The folder of every model's kept versions."""
    return _joined(base, VERSIONS_FOLDER)
