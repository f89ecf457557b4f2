"""The package's layers: the core stands alone, its folders import only downward, and Dagster
finds the lazy definitions."""

import ast
import subprocess
import sys
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "recsys_assets" / "core"
CORE_MODULES = [
    ".".join(path.relative_to(REPO).with_suffix("").parts)
    for path in sorted(CORE.rglob("*.py"))
    if path.stem != "__init__"
]
CORE_LAYERS = ("storage", "data", "evaluation", "models", "search")
"""The core's folders, lowest first: a module imports from its own folder or a lower one."""


def python(code: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_core_imports_without_dagster_or_the_environment():
    code = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in CORE_MODULES)
        + "print(sorted(name for name in sys.modules if name.split('.')[0].startswith('dagster')))\n"
        + "print('recsys_assets.settings' in sys.modules)\n"
    )
    result = python(code, RECSYS_SAMPLE_FRACTION="abc", RECSYS_DEMO_SIZE="huge")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "False"]


def core_imports(path: Path) -> set[str]:
    """The core modules or packages `path` imports, as dotted names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("recsys_assets.core.")}


def test_each_core_folder_imports_only_its_own_and_lower_folders():
    assert sorted(
        path.name for path in CORE.iterdir() if path.is_dir() and path.name != "__pycache__"
    ) == sorted(CORE_LAYERS)
    assert not [path.name for path in CORE.glob("*.py") if path.name != "__init__.py"], (
        "every module has a folder"
    )
    upward = []
    for path in (path for path in CORE.rglob("*.py") if path.parent != CORE):
        layer = CORE_LAYERS.index(path.relative_to(CORE).parts[0])
        for module in core_imports(path):
            if CORE_LAYERS.index(module.split(".")[2]) > layer:
                upward.append(f"{path.relative_to(REPO)} imports {module}")
    assert upward == []


def test_the_package_exposes_lazy_definitions_that_build_from_the_environment():
    imported = python(
        "import recsys_assets, sys; print('dagster' in sys.modules)", RECSYS_SAMPLE_FRACTION="abc"
    )
    assert imported.returncode == 0 and imported.stdout.strip() == "False", imported.stderr

    import recsys_assets

    assert "defs" in dir(recsys_assets)
    defs = recsys_assets.defs()
    assert isinstance(defs, dg.Definitions)
    assert {key.to_user_string() for key in defs.resolve_all_asset_keys()} >= {
        "best_model",
        "test_evaluation",
    }


def family_name_comparisons(path: Path, names: set[str]) -> list[str]:
    """Comparisons in `path` with a family's name as a literal (`x == "rules"`, `x in ("hybrid",)`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            literals = [
                item
                for operand in operands
                for item in (
                    operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                )
            ]
            if any(isinstance(item, ast.Constant) and item.value in names for item in literals):
                found.append(f"{path}:{node.lineno}")
    return found


def test_no_code_compares_with_a_family_name_outside_the_family_folders_and_the_registry(tmp_path: Path):
    from recsys_assets.core.models.registry import FAMILIES

    models = CORE / "models"
    own = {models / "registry.py", *(path for name in FAMILIES for path in (models / name).rglob("*.py"))}
    found = [
        comparison
        for path in sorted((REPO / "recsys_assets").rglob("*.py"))
        if path not in own
        for comparison in family_name_comparisons(path, set(FAMILIES))
    ]
    assert found == []
    planted = tmp_path / "planted.py"
    planted.write_text('def f(model):\n    return model.family == "rules" or model.family in ("hybrid",)\n')
    assert family_name_comparisons(planted, set(FAMILIES)) == [f"{planted}:2"] * 2


def test_reading_model_files_and_the_registry_loads_neither_gensim_nor_dagster():
    code = (
        "import sys\n"
        "import recsys_assets.core.models.served, recsys_assets.core.models.trained\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('gensim', 'dagster')))\n"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", "`recsys-assets models` stays fast"


def test_the_corpus_cuts_sentences_where_gensim_stops_reading_them():
    from gensim.models.word2vec import MAX_WORDS_IN_BATCH

    from recsys_assets.core.data.corpus import MAX_SENTENCE_LENGTH

    assert MAX_SENTENCE_LENGTH == MAX_WORDS_IN_BATCH
