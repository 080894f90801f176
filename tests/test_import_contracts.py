"""The import contracts in pyproject.toml hold, and the module-level contract type can fail."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow  # runs lint-imports in a subprocess

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(settings.BASE_DIR)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_repository_keeps_its_import_contracts():
    result = _lint(settings.BASE_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _package(root: Path) -> None:
    (root / "webpkg").mkdir()
    (root / "heavy").mkdir()
    files = {
        "webpkg/__init__.py": "",
        "webpkg/lazy.py": "def train():\n    import heavy\n\n    return heavy\n",
        "webpkg/eager.py": "from webpkg import chain\n",
        "webpkg/chain.py": "import heavy\n",
        "heavy/__init__.py": "",
    }
    for name, text in files.items():
        (root / name).write_text(text)


def _config(root: Path, sources: list[str]) -> str:
    (root / "contracts.toml").write_text(
        textwrap.dedent(
            f"""
            [tool.importlinter]
            root_packages = ["webpkg"]
            include_external_packages = true
            contract_types = ["module_level: scripts.import_contracts.ModuleLevelForbiddenContract"]

            [[tool.importlinter.contracts]]
            name = "no heavy at import time"
            type = "module_level"
            source_modules = {sources!r}
            forbidden_modules = ["heavy"]
            """
        )
    )
    return str(root / "contracts.toml")


def test_an_import_inside_a_function_keeps_the_module_level_contract(tmp_path):
    _package(tmp_path)
    result = _lint(tmp_path, "--config", _config(tmp_path, ["webpkg.lazy"]))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_module_level_chain_to_a_forbidden_library_breaks_it(tmp_path):
    _package(tmp_path)
    result = _lint(tmp_path, "--config", _config(tmp_path, ["webpkg.lazy", "webpkg.eager"]))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "webpkg.eager -> webpkg.chain" in result.stdout
    assert "webpkg.lazy ->" not in result.stdout
