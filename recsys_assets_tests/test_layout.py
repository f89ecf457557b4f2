"""The package's layers: the core stands alone, and Dagster finds the lazy definitions."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[1]
CORE_MODULES = [
    f"recsys_assets.core.{path.stem}"
    for path in sorted((REPO / "recsys_assets" / "core").glob("*.py"))
    if path.stem != "__init__"
]


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


def test_the_package_exposes_lazy_definitions_that_build_from_the_environment(tmp_path: Path):
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
