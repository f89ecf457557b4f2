"""A model file is served only if it reads whole and is the one chosen: every kind of damage to
any family's file is refused with one error that names the file, before anything is scored."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from recsys_assets.core.models.registry import FAMILIES
from recsys_assets.core.models.trained import (
    DamagedModelFile,
    NotTheChosenModel,
    check_model_file,
    model_bytes,
    model_from_bytes,
    read_model,
    read_summary,
)
from recsys_assets.core.storage.fingerprint import bytes_fingerprint
from recsys_assets_tests.test_family_contract import fitted

Arrays = dict[str, np.ndarray]
INDEX_ARRAYS = ("indices", "followers", "artist_codes", "popularity_rank", "plays", "counts")
"""Arrays of indices or counts, which must not be negative, the ones damaged first first."""


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    """Each family's fitted model as the bytes of its file."""
    return {family: model_bytes(fitted(family)) for family in FAMILIES}


def arrays_of(data: bytes) -> Arrays:
    with np.load(io.BytesIO(data)) as archive:
        return {name: archive[name] for name in archive.files}


def file_of(arrays: Arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def with_manifest(data: bytes, change: Callable[[dict], None]) -> bytes:
    arrays = arrays_of(data)
    manifest = json.loads(arrays["manifest"].tobytes())
    change(manifest)
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    return file_of(arrays)


def with_arrays(data: bytes, change: Callable[[Arrays], None]) -> bytes:
    arrays = arrays_of(data)
    change(arrays)
    return file_of(arrays)


def largest(arrays: Arrays) -> str:
    return max((name for name in arrays if name != "manifest"), key=lambda name: arrays[name].nbytes)


def bit_flipped(data: bytes) -> bytes:
    """One bit flipped in the middle of the largest array's stored bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        member = max(archive.infolist(), key=lambda info: info.file_size)
    header = member.header_offset
    name_length, extra_length = np.frombuffer(data[header + 26 : header + 30], dtype="<u2")
    at = header + 30 + int(name_length) + int(extra_length) + member.compress_size // 2
    return data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :]


def without_largest_array(arrays: Arrays) -> None:
    del arrays[largest(arrays)]


def with_nan(arrays: Arrays) -> None:
    """NaN in the first float array, or in the layout's numbers where there is none (kNN)."""
    name = next((name for name, values in arrays.items() if values.dtype.kind == "f" and values.size), None)
    if name is None:
        layout = json.loads(arrays["scorer_layout"].tobytes())
        layout["idf_weight"] = float("nan")
        arrays["scorer_layout"] = np.frombuffer(json.dumps(layout).encode(), dtype=np.uint8)
        return
    arrays[name] = arrays[name].copy()
    arrays[name].flat[0] = np.nan


def with_negative_index(arrays: Arrays) -> None:
    name = next(
        name
        for suffix in INDEX_ARRAYS
        for name, values in arrays.items()
        if name.endswith(suffix) and values.dtype.kind in "iu" and values.size
    )
    arrays[name] = arrays[name].astype(np.int64)
    arrays[name][0] = -1


def with_bad_layout(arrays: Arrays) -> None:
    if "scorer_layout" in arrays:
        arrays["scorer_layout"] = np.frombuffer(json.dumps({"family": "rules"}).encode(), dtype=np.uint8)
    else:
        arrays["vectors"] = arrays["vectors"].ravel()


DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "a bit flip inside an array": bit_flipped,
    "a missing array": lambda data: with_arrays(data, without_largest_array),
    "an unknown family": lambda data: with_manifest(
        data, lambda manifest: manifest.update(family="nonesuch")
    ),
    "a bad layout": lambda data: with_arrays(data, with_bad_layout),
    "NaN values": lambda data: with_arrays(data, with_nan),
    "a negative index or count": lambda data: with_arrays(data, with_negative_index),
    "a truncated file": lambda data: data[: len(data) // 2],
    "a manifest without k": lambda data: with_manifest(data, lambda manifest: manifest.pop("k")),
    "a manifest without validation": lambda data: with_manifest(
        data, lambda manifest: manifest.pop("validation")
    ),
    "a manifest that miscounts the tracks": lambda data: with_manifest(
        data, lambda manifest: manifest.update(vocabulary_size=manifest["vocabulary_size"] + 1)
    ),
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("family", FAMILIES)
def test_a_damaged_model_file_of_any_family_is_refused_naming_it(
    files: dict[str, bytes], family: str, damage: str, tmp_path: Path
):
    whole = files[family]
    assert model_from_bytes(whole, "whole.npz").family == family
    path = tmp_path / "best_model.npz"
    path.write_bytes(DAMAGES[damage](whole))
    with pytest.raises(DamagedModelFile, match=f"^{path}: "):
        read_model(str(path))
    with pytest.raises(DamagedModelFile, match=f"^{path}: "):
        check_model_file(str(path), None)


@pytest.mark.parametrize(
    "damage", ["a manifest without k", "a manifest without validation", "a truncated file"]
)
def test_a_summary_of_a_damaged_manifest_is_refused_naming_the_file(
    files: dict[str, bytes], damage: str, tmp_path: Path
):
    path = tmp_path / "model.npz"
    path.write_bytes(DAMAGES[damage](files["rules"]))
    with pytest.raises(DamagedModelFile, match=f"^{path}: "):
        read_summary(str(path))


def test_a_rules_file_without_its_weights_is_refused_not_served_with_weights_of_one(files, tmp_path: Path):
    data = with_arrays(files["rules"], lambda arrays: arrays.pop("scorer_data"))
    with pytest.raises(DamagedModelFile, match="'scorer_data' is missing"):
        model_from_bytes(data, "rules.npz")


@pytest.mark.parametrize(
    ("array", "value", "expected"),
    [
        ("scorer_indices", 10**6, "expected values below"),
        ("scorer_indptr", 10**6, "does not delimit|expected values below|below its least"),
        ("scorer_shape", 3, "expected 30"),
    ],
)
def test_a_rules_matrix_whose_indices_leave_its_tracks_is_refused(files, array, value, expected):
    def damage(arrays: Arrays) -> None:
        arrays[array] = arrays[array].copy()
        arrays[array][-1] = value

    with pytest.raises(DamagedModelFile, match=expected):
        model_from_bytes(with_arrays(files["rules"], damage), "rules.npz")


@pytest.mark.parametrize("kind", ["a FIFO", "a folder", "a link to /dev/zero"])
def test_something_other_than_a_file_in_a_models_place_is_refused_before_reading(kind: str, tmp_path: Path):
    path = tmp_path / "best_model.npz"
    if kind == "a FIFO":
        os.mkfifo(path)
    elif kind == "a folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    expected = "a folder" if kind == "a folder" else "a FIFO" if kind == "a FIFO" else "a device"
    for read in (read_model, read_summary, lambda location: check_model_file(location, "0" * 32)):
        with pytest.raises(DamagedModelFile, match=f"{path}: model file is {expected}"):
            read(str(path))


def test_a_whole_model_that_is_not_the_chosen_one_is_refused(files, tmp_path: Path):
    chosen, other = files["rules"], files["session_knn"]
    path = tmp_path / "best_model.npz"
    path.write_bytes(other)
    with pytest.raises(NotTheChosenModel, match=f"^{path}: not the model file that was chosen"):
        read_model(str(path), bytes_fingerprint(chosen))
    with pytest.raises(NotTheChosenModel):
        check_model_file(str(path), bytes_fingerprint(chosen))
    path.write_bytes(chosen)
    assert read_model(str(path), bytes_fingerprint(chosen)).family == "rules"
    check_model_file(str(path), bytes_fingerprint(chosen))


def test_a_re_ranker_whose_trees_do_not_parse_is_refused(files):
    def damage(arrays: Arrays) -> None:
        arrays["scorer_booster"] = np.frombuffer(b"tree\nnot a tree\n", dtype=np.uint8)

    with pytest.raises(DamagedModelFile, match="the re-ranker's trees do not read"):
        model_from_bytes(with_arrays(files["reranker"], damage), "reranker.npz")
