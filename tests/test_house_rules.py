"""The house rules CONTRIBUTING states, checked on the repository as it is: modules under 500 lines,
functions under 80, a README of at most 250 lines, and nothing that points outside the repository
to the shared folder it was developed beside."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ticketai", "repair_center", "ml", "frontend", "edge_agent", "benchmarks", "tests")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
MAX_README_LINES = 250
TEXT_SUFFIXES = {
    ".py",
    ".md",
    ".toml",
    ".yml",
    ".yaml",
    ".cfg",
    ".ini",
    ".txt",
    ".html",
    ".js",
    ".css",
    ".sh",
}
# The folder the project was developed beside, named once: a clone does not have it.
FOLDER = "shared"


def pointer(folder: str) -> re.Pattern:
    """A path into ``folder`` (``../folder/...`` or ``folder/...``), not a folder of that name deeper."""
    return re.compile(rf"(?<![\w.\-/])(?:\.\./)?{folder}/")


POINTS_OUTSIDE = pointer(FOLDER)


def python_modules() -> list[Path]:
    modules = [ROOT / "manage.py"]
    for package in PACKAGES:
        modules += [p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    return modules


def text_files() -> list[Path]:
    files = [ROOT / name for name in ("Makefile", "README.md", "CONTRIBUTING.md", "SECURITY.md", ".ci/run")]
    for folder in (*PACKAGES, "docs"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file()]
    files += [p for p in ROOT.glob("*") if p.suffix in TEXT_SUFFIXES and p.is_file()]
    return sorted({p for p in files if p.is_file()})


def test_every_module_is_under_500_lines():
    modules = python_modules()
    assert len(modules) > 100  # the walk found the code
    long = {
        str(p.relative_to(ROOT)): n
        for p in modules
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_every_function_is_under_80_lines():
    long = {}
    for path in python_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}::{node.name}"] = lines
    assert not long, long


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= MAX_README_LINES


def test_nothing_points_to_the_shared_folder_beside_the_checkout():
    files = text_files()
    assert ROOT / "README.md" in files and ROOT / "docs" / "edge.md" in files
    pointing = [
        str(p.relative_to(ROOT)) for p in files if POINTS_OUTSIDE.search(p.read_text(errors="replace"))
    ]
    assert not pointing, pointing


@pytest.mark.parametrize(
    "text, points",
    [
        ("see ../elsewhere/RECIPES.md", True),
        ("elsewhere/STYLE.md says", True),
        ("a elsewhere/ folder", True),
        ("not_elsewhere/x", False),
        ("/srv/elsewhere/x", False),
        ("elsewhere memory", False),
    ],
)
def test_the_pattern_finds_paths_into_the_folder_and_nothing_else(text, points):
    # Shown on another folder name, so that this file does not itself point outside.
    assert bool(pointer("elsewhere").search(text)) == points
