"""Writing files whole or not at all: locally a temporary file renamed into place, on an object
store (any fsspec URL) one object written whole."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec

from recsys_assets.core.storage.processes import process_alive


class NotARegularFile(OSError):
    """A path that names a FIFO, a device or a folder where a file is expected: reading it could
    wait for ever or never end."""


def check_regular_file(path: Path, what: str) -> None:
    """FileNotFoundError or NotARegularFile naming `what` and `path`, unless `path` (after its
    symlinks) is a regular file; it is checked before anything reads it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise NotARegularFile(f"{path}: {what} is {kind}, expected a regular file")


FOREIGN_TEMPORARY_FILE_AGE = 24 * 3600
"""Seconds after which a temporary file of a writer on another host (or of unknown name) is stale."""


def _writer_gone(temporary: Path, path: Path) -> bool:
    """Whether the writer of `replacing(path)`'s temporary file is gone: a process of this host
    that no longer runs, or any other writer whose file is older than FOREIGN_TEMPORARY_FILE_AGE."""
    writer = temporary.name.removeprefix(f".{path.name}.").removesuffix(".tmp")
    host, _, pid = writer.rpartition("-")[0].rpartition("-")
    if host == socket.gethostname() and pid.isdigit():
        return not process_alive(int(pid))
    try:
        return time.time() - temporary.stat().st_mtime > FOREIGN_TEMPORARY_FILE_AGE
    except FileNotFoundError:
        return False


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block succeeds.

    The previous file stays whole if the block fails or the process dies; temporary files left
    behind by a writer that is gone are removed by the next write, those of a live writer kept.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        raise IsADirectoryError(f"{path} is a folder where a file belongs: remove it, then try again")
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        if _writer_gone(stale, path):
            stale.unlink(missing_ok=True)
    writer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    temporary = path.with_name(f".{path.name}.{writer}.tmp")
    try:
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through `replacing`."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def publish(version: Path, latest: Path) -> None:
    """Make `latest` a copy of the file `version`, replacing it at once. A copy, not a link: a
    writer that damages the served file leaves the version kept for good whole."""
    with replacing(latest) as temporary:
        shutil.copyfile(version, temporary)


def is_local(location: str) -> bool:
    """Whether `location` is a local path (or file:// URL) rather than a remote fsspec URL."""
    return "://" not in location or location.startswith(("file://", "local://"))


def local_path(location: str) -> str:
    """The path of a local location, without a file:// or local:// prefix."""
    return location.removeprefix("file://").removeprefix("local://")


def upload(local: Path, location: str) -> None:
    """Make the file or object at `location` a copy of the local file, replacing it whole."""
    if is_local(location):
        with replacing(Path(local_path(location))) as temporary:
            shutil.copyfile(local, temporary)
        return
    filesystem, path = fsspec.core.url_to_fs(location)
    filesystem.put_file(str(local), path)


def local_copy(location: str, names: tuple[str, ...], scratch: Path) -> Path:
    """A local folder holding the files `names` of the folder `location`: that folder itself when
    it is local, else `scratch` with the files downloaded into it. FileNotFoundError names the
    first file missing."""
    if is_local(location):
        folder = Path(local_path(location))
        for name in names:
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name} does not exist")
        return folder
    filesystem, root = fsspec.core.url_to_fs(location)
    for name in names:
        filesystem.get_file(f"{root.rstrip('/')}/{name}", str(scratch / name))
    return scratch


def remove_folders_except(location: str, keep: set[str]) -> None:
    """Delete every entry directly under `location` (local or fsspec URL) whose name is not in
    `keep`."""
    filesystem, root = fsspec.core.url_to_fs(location)
    if not filesystem.exists(root):
        return
    for entry in filesystem.ls(root, detail=False):
        if entry.rstrip("/").rsplit("/", 1)[-1] not in keep:
            filesystem.rm(entry, recursive=True)


def versions_to_delete(versions: list[Path], keep: int, protected: set[Path]) -> list[Path]:
    """Of one model's version files, those beyond the `keep` newest (by modification time), except
    the `protected` ones."""
    newest_first = sorted(versions, key=lambda path: (path.stat().st_mtime_ns, path.name), reverse=True)
    return [path for path in newest_first[keep:] if path.resolve() not in protected]
