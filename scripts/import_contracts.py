"""An import-linter contract type for "never at module level": what a process loads on import.

import-linter (through grimp) records every import statement, those inside function bodies
included, which is what the layers and forbidden contracts should see: a function-level import is
still a dependency. The rule that web processes never load torch, transformers or scikit-learn is
different: those libraries may be imported inside the functions that train, never when a module
is imported. This contract drops from the graph every import made only inside function bodies,
then checks exactly as a ``forbidden`` contract does, so an indirect chain breaks it only when each
of its links runs at import time.
"""

import ast
from functools import cache
from pathlib import Path

from importlinter.contracts.forbidden import ForbiddenContract


@cache
def _deferred_lines(module: str) -> frozenset[int]:
    """Line numbers of the import statements inside function bodies of ``module`` (a project file)."""
    base = Path(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    if not path.is_file():
        return frozenset()
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return frozenset(lines)


class ModuleLevelForbiddenContract(ForbiddenContract):
    """``forbidden``, counting only the imports that run when a module is imported."""

    type_name = "forbidden_at_module_level"

    def check(self, graph, verbose):
        for importer in list(graph.modules):
            deferred = _deferred_lines(importer)
            if not deferred:
                continue
            for imported in list(graph.find_modules_directly_imported_by(importer)):
                details = graph.get_import_details(importer=importer, imported=imported)
                if details and all(d["line_number"] in deferred for d in details):
                    graph.remove_import(importer=importer, imported=imported)
        return super().check(graph, verbose)
