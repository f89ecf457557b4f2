"""Code versions: a digest of the code each stage runs, so the UI marks its assets out of date
when that code changes, and a retrain knows whether the code changed since the last one."""

from recsys_assets.core.storage.fingerprint import code_version

DATA_CODE_VERSION = code_version(["core/data", "core/storage", "graph/data.py"])
"""The playlist table and its splits."""
MODEL_CODE_VERSION = code_version(
    ["core", "graph/models.py", "graph/evaluation.py", "graph/metadata.py", "graph/io_managers.py"]
)
"""Training, strategies, evaluation and the model files."""
RETRAIN_CODE_VERSION = code_version(["core", "graph"])
"""Everything a retrain runs."""
