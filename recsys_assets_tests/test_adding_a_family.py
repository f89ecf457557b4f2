"""The guide "Adding a model family" followed end to end on a copy of the package: its example
family touches only its folder and one registry line, and passes the family contract tests."""

from __future__ import annotations

import difflib
import filecmp
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "adding_a_family.md"
REGISTRY = Path("recsys_assets/core/models/registry.py")


def guide_files() -> tuple[dict[str, str], str]:
    """The files the guide gives, by path, and its registry line."""
    text = GUIDE.read_text()
    files = dict(
        re.findall(r"^`(recsys_assets/[\w/]+\.py)`:\n\n```python\n(.*?)```\n", text, flags=re.M | re.S)
    )
    change = re.search(r"add the folder to `FAMILY_FOLDERS`:\n\n```diff\n(.*?)```", text, flags=re.S).group(1)
    (added,) = [line[1:] for line in change.splitlines() if line.startswith("+")]
    return files, added


def changed_files(before: Path, after: Path) -> list[str]:
    """Paths (relative to `after`) of Python files added or changed in `after`."""
    changed = []
    for path in sorted(after.rglob("*.py")):
        old = before / path.relative_to(after)
        if not old.exists() or not filecmp.cmp(old, path, shallow=False):
            changed.append(path.relative_to(after).as_posix())
    return changed


def test_the_guides_example_family_touches_its_folder_and_one_registry_line_and_passes_the_contract(
    tmp_path: Path,
):
    files, registry_line = guide_files()
    folder = "recsys_assets/core/models/artist_pop"
    assert set(files) == {f"{folder}/scorer.py", f"{folder}/family.py"}
    ignore = shutil.ignore_patterns("__pycache__", "legacy_files")
    shutil.copytree(REPO / "recsys_assets", tmp_path / "recsys_assets", ignore=ignore)
    shutil.copytree(REPO / "recsys_assets_tests", tmp_path / "recsys_assets_tests", ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    for path, code in files.items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(code)
    (tmp_path / folder / "__init__.py").write_text("")
    registry = (tmp_path / REGISTRY).read_text()
    folders_end = registry.index(")\n", registry.index("FAMILY_FOLDERS = ("))
    (tmp_path / REGISTRY).write_text(registry[:folders_end] + registry_line + "\n" + registry[folders_end:])

    changed = changed_files(REPO / "recsys_assets", tmp_path / "recsys_assets")
    assert changed == sorted(
        [
            "core/models/registry.py",
            *(path.removeprefix("recsys_assets/") for path in files),
            "core/models/artist_pop/__init__.py",
        ]
    )
    diff = [
        line
        for line in difflib.unified_diff(
            (REPO / REGISTRY).read_text().splitlines(), (tmp_path / REGISTRY).read_text().splitlines(), n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == [f"+{registry_line}"]

    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    contract = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "artist_pop",
            "recsys_assets_tests/test_family_contract.py",
        ],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert contract.returncode == 0, contract.stdout[-3000:] + contract.stderr[-3000:]
    passed = int(re.search(r"(\d+) passed", contract.stdout).group(1))
    assert passed >= 10 and " failed" not in contract.stdout

    usage = subprocess.run(
        [
            sys.executable,
            "-c",
            "from recsys_assets.core.search.space import parse_search_plan, parse_search_space\n"
            "configs = parse_search_space({'config': [{'model': 'artist_pop'}]}, 'space.toml')\n"
            "searched = {'trials': 2, 'artist_pop': {'last_n': {'low': 1, 'high': 5}}}\n"
            "plan = parse_search_plan({'search': searched}, 's')\n"
            "print(configs[0].key, plan.models)\n",
        ],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert usage.stdout.strip() == "artistpop-last1 ('artist_pop',)", usage.stderr
