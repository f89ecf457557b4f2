"""Code versions: a digest of the code each stage runs, so the UI marks its assets out of date
when that code changes, and a retrain knows whether the code changed since the last one."""

from recsys_assets.core.fingerprint import code_version

DATA_CODE_VERSION = code_version(
    [
        "core/sources.py",
        "core/playlists.py",
        "core/track_ids.py",
        "core/table_files.py",
        "core/training_files.py",
        "core/statistics.py",
        "core/cases.py",
        "core/corpus.py",
        "core/demo_data.py",
        "core/files.py",
        "graph/data.py",
    ]
)
"""The playlist table and its splits."""
MODEL_CODE_VERSION = code_version(
    ["core", "graph/models.py", "graph/evaluation.py", "graph/metadata.py", "graph/io_managers.py"]
)
"""Training, strategies, evaluation and the model files."""
RETRAIN_CODE_VERSION = code_version(["core", "graph"])
"""Everything a retrain runs."""
