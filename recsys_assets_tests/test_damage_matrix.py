"""The damage matrix: each family's served model file, damaged in each way, through `recommend`,
`models`, `retrain` and `promote`. Every command either serves the model chosen, rebuilt from its
kept version, or refuses with one `error:` line naming the file; none serves another model.
A retrain per family makes it an end-to-end test of minutes: it runs with the slow tests (CI);
test_model_files checks every family's reading of every damage in every run."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from recsys_assets.cli import main
from recsys_assets.client import model_versions
from recsys_assets.core.models.registry import FAMILIES
from recsys_assets.settings import Settings
from recsys_assets_tests.conftest import write_search_space
from recsys_assets_tests.test_model_files import DAMAGES, with_manifest

SEARCH_SPACES = {
    "word2vec": "[[config]]\nmin_count = 2\nepochs = 2\nvector_size = 8\n",
    "rules": '[[config]]\nmodel = "rules"\n',
    "session_knn": '[[config]]\nmodel = "session_knn"\n',
    "hybrid": '[[config]]\nmodel = "hybrid"\n',
    "reranker": '[[config]]\nmodel = "reranker"\n',
}
PLACES = ("a FIFO", "a folder", "a link to /dev/zero")
"""Things that are not a file, put in the served file's place."""
ANOTHER_MODEL = "another whole model"
KINDS = [*DAMAGES, ANOTHER_MODEL, *PLACES]


def damage(path: Path, kind: str) -> None:
    """Damage the model file at `path` in the way `kind` names."""
    whole = path.read_bytes()
    path.unlink()
    if kind == "a FIFO":
        os.mkfifo(path)
    elif kind == "a folder":
        path.mkdir()
    elif kind == "a link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == ANOTHER_MODEL:
        path.write_bytes(with_manifest(whole, lambda manifest: manifest.update(train_seconds=123.0)))
    else:
        path.write_bytes(DAMAGES[kind](whole))


def restore(path: Path, kept: bytes) -> None:
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    else:
        path.unlink(missing_ok=True)
    path.write_bytes(kept)


def one_error_naming(err: str, path: Path) -> bool:
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    return len(errors) == 1 and str(path) in errors[0] and "Traceback" not in err


@pytest.fixture(params=[pytest.param(family, marks=pytest.mark.slow) for family in FAMILIES])
def served(request, small_settings: Settings, tmp_path: Path, monkeypatch, capsys):
    """A retrain of one config of the family in a temporary persistent instance: the family,
    the served file and the bytes of its kept version."""
    family = request.param
    space = write_search_space(tmp_path, SEARCH_SPACES[family])
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("RECSYS_DATA_DIR", str(small_settings.data_dir))
    monkeypatch.setenv("RECSYS_PLAYLISTS_PATH", str(small_settings.playlists_path))
    monkeypatch.setenv("RECSYS_SEARCH_SPACE", str(space))
    assert main(["retrain"]) == 0
    capsys.readouterr()
    path = small_settings.data_dir / "models" / "best_model.npz"
    return family, path, path.read_bytes()


def test_every_command_serves_the_chosen_model_or_refuses_naming_the_file(served, capsys):
    family, path, kept = served
    for kind in KINDS:
        damage(path, kind)
        assert main(["recommend", "nobody|||nothing"]) == 1, (family, kind)
        out, err = capsys.readouterr()
        assert not out and one_error_naming(err, path), (family, kind, err)

        status = main(["models"])
        out, err = capsys.readouterr()
        assert status in (0, 1) and "Traceback" not in err, (family, kind, err)
        if err:
            assert one_error_naming(err, path), (family, kind, err)

        status = main(["retrain"])
        out, err = capsys.readouterr()
        if kind == "a folder":
            assert status == 1 and one_error_naming(err, path), (family, kind, err)
            assert "is a folder" in err
            restore(path, kept)
            continue
        assert status == 0, (family, kind, err)
        assert "its kept version" in out and "is served again" in out, (family, kind, out)
        assert path.read_bytes() == kept, (family, kind)
        assert main(["recommend", "nobody|||nothing"]) == 0, (family, kind)
        capsys.readouterr()

    (config_file,) = (path.parent / "embedding_model").glob("*.npz")
    for kind in ("a truncated file", "a manifest without k", "a folder"):
        whole = config_file.read_bytes()
        damage(config_file, kind)
        assert main(["models"]) == 0, (family, kind)
        listed = capsys.readouterr().out
        assert f"{config_file.stem} model file damaged: {config_file}" in listed, (family, kind, listed)
        restore(config_file, whole)


def test_promote_serves_a_kept_version_over_any_damage_and_refuses_a_damaged_version(served, capsys):
    family, path, kept = served
    with dg.DagsterInstance.get() as instance:
        (version,) = model_versions("best_model", instance=instance)
    for kind in KINDS:
        damage(path, kind)
        status = main(["promote", version["version"][:8], "--reason", "restore"])
        err = capsys.readouterr().err
        if kind == "a folder":
            assert status == 2 and one_error_naming(err, path), (family, kind, err)
            restore(path, kept)
            continue
        assert status == 0 and path.read_bytes() == kept, (family, kind, err)
        assert main(["recommend", "nobody|||nothing"]) == 0, (family, kind)
        capsys.readouterr()

    kept_version = Path(version["path"])
    for kind in (*DAMAGES, ANOTHER_MODEL):
        damage(kept_version, kind)
        assert main(["promote", version["version"][:8], "--reason", "restore"]) == 2, (family, kind)
        assert one_error_naming(capsys.readouterr().err, kept_version), (family, kind)
        assert main(["recommend", "--version", version["version"][:8], "nobody|||nothing"]) == 1, kind
        assert one_error_naming(capsys.readouterr().err, kept_version), (family, kind)
        assert path.read_bytes() == kept, "the served file is left as it was"
        restore(kept_version, kept)
