"""Fingerprints that tell whether a retrain would see anything new: the source's content, the
search space's text and the code."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from recsys_assets.core.storage.files import check_regular_file, is_local, local_path

PACKAGE_DIR = Path(__file__).resolve().parents[2]
HEX_DIGITS = 32
"""SHA-256 (hashed in hardware on current processors, about 1.4 GB/s here), cut to 128 bits."""


def bytes_fingerprint(data: bytes) -> str:
    """Hex digest of bytes, equal to `file_fingerprint` of a file holding them."""
    return hashlib.sha256(data).hexdigest()[:HEX_DIGITS]


def file_fingerprint(path: Path, what: str = "file") -> str:
    """Hex digest of the file's bytes: equal for equal content, whatever its name or mtime;
    FileNotFoundError or NotARegularFile (naming `what`) before reading anything else."""
    check_regular_file(path, what)
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()[:HEX_DIGITS]


def location_fingerprint(location: str, what: str = "file") -> str:
    """`file_fingerprint` of the file at a local path or any fsspec URL, read as a stream."""
    if is_local(location):
        return file_fingerprint(Path(local_path(location)), what)
    import fsspec

    with fsspec.open(location, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()[:HEX_DIGITS]


def combined(*parts: object) -> str:
    """Hex digest of several values (fingerprints, settings) in order."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:HEX_DIGITS]


def code_version(modules: Iterable[str] = ("core", "graph")) -> str:
    """Digest of the package's Python sources under `modules` (folders or files relative to the
    package): it changes with any change of that code, comments included. 12 hex characters."""
    digest = hashlib.sha256()
    for module in modules:
        path = PACKAGE_DIR / module
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(source.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
            digest.update(source.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class RetrainInputs:
    """What a retrain's result depends on: the data version of the playlist tables (source
    content, sample and split settings, data code), the search space's text, the code, and where
    the tables, files and models are stored."""

    data: str
    search_space: str
    code: str
    storage: str

    def changes_since(self, previous: RetrainInputs | None) -> list[str]:
        """The names of the inputs that differ from `previous` (all of them when there is none)."""
        mine = asdict(self)
        if previous is None:
            return list(mine)
        theirs = asdict(previous)
        return [name for name, value in mine.items() if theirs[name] != value]

    def as_metadata(self) -> dict[str, str]:
        return {f"{name}_fingerprint": value for name, value in asdict(self).items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, object]) -> RetrainInputs | None:
        """The inputs recorded by `as_metadata`, or None where they are missing."""
        values = {name: metadata.get(f"{name}_fingerprint") for name in cls.__dataclass_fields__}
        if not all(isinstance(value, str) for value in values.values()):
            return None
        return cls(**values)
