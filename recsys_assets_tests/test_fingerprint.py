"""Fingerprints of the source, the search space and the code: equal for equal content only."""

import hashlib
import os
import shutil
from pathlib import Path

from recsys_assets.core.storage import fingerprint
from recsys_assets.core.storage.fingerprint import RetrainInputs, code_version, combined, file_fingerprint


def test_a_file_fingerprint_follows_content_not_name_or_time(tmp_path: Path):
    first = tmp_path / "a.csv"
    first.write_bytes(b"user_id,artist,track,playlist\n" * 1000)
    copy = tmp_path / "b.csv"
    shutil.copyfile(first, copy)
    os.utime(copy, (1, 1))
    assert file_fingerprint(first) == file_fingerprint(copy)
    assert file_fingerprint(first) == hashlib.sha256(first.read_bytes()).hexdigest()[:32]
    copy.write_bytes(first.read_bytes()[:-1] + b"!")
    assert file_fingerprint(first) != file_fingerprint(copy)


def test_combined_keeps_order_and_boundaries():
    assert combined("a", "b") == combined("a", "b")
    assert combined("a", "b") != combined("b", "a")
    assert combined("ab", "c") != combined("a", "bc")
    assert combined(0.5, 1) != combined(0.5, 2)


def test_the_code_version_changes_with_any_source_change(tmp_path: Path, monkeypatch):
    package = tmp_path / "package"
    shutil.copytree(fingerprint.PACKAGE_DIR / "core", package / "core")
    monkeypatch.setattr(fingerprint, "PACKAGE_DIR", package)
    before = code_version(["core"])
    assert before == code_version(["core"]) and len(before) == 12
    module = package / "core" / "evaluation" / "metrics.py"
    module.write_text(module.read_text() + "\n# a comment\n")
    assert code_version(["core"]) != before
    assert code_version(["core/data/playlists.py"]) != code_version(["core/evaluation/metrics.py"])


def test_retrain_inputs_name_what_changed():
    before = RetrainInputs(data="d1", search_space="s1", code="c1", storage="l1")
    assert before.changes_since(before) == []
    assert RetrainInputs("d2", "s1", "c2", "l1").changes_since(before) == ["data", "code"]
    assert RetrainInputs("d1", "s1", "c1", "l2").changes_since(before) == ["storage"]
    assert before.changes_since(None) == ["data", "search_space", "code", "storage"]
    assert RetrainInputs.from_metadata(before.as_metadata()) == before
    assert RetrainInputs.from_metadata({"data_fingerprint": "d1"}) is None
