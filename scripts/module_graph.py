"""Print ml's module graph as a Mermaid flowchart, and any import cycle in it (docs/architecture.md).

Every import counts, those inside functions too. api/, management/ and models/ are drawn as one
node each; migrations are left out. Run from the repository root:

    .venv/bin/python scripts/module_graph.py
"""

import sys
from collections import defaultdict
from pathlib import Path

import grimp

GROUPED = ("ml.api", "ml.management", "ml.models")
LAYERS = ("core", "serving", "training", "compression", "monitoring", "fleet")


def node(module: str) -> str:
    return next((g for g in GROUPED if module == g or module.startswith(g + ".")), module)


def edges() -> set[tuple[str, str]]:
    graph = grimp.build_graph("ml", cache_dir=None)
    packages = {"ml", *(f"ml.{layer}" for layer in LAYERS)}
    found = set()
    for importer in graph.modules:
        if importer.startswith("ml.migrations"):
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = node(importer), node(imported)
            if a != b and not {a, b} & packages and not b.startswith("ml.migrations"):
                found.add((a, b))
    return found


def cycles(found: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    out = defaultdict(list)
    for a, b in found:
        out[a].append(b)
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in out[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted({m for edge in found for m in edge}):
        if v not in index:
            visit(v)
    return components


def mermaid(found: set[tuple[str, str]]) -> str:
    def name(module: str) -> str:
        return module.removeprefix("ml.").replace(".", "_")

    lines = ["flowchart TD"]
    modules = sorted({m for edge in found for m in edge})
    for layer in LAYERS:
        inside = [m for m in modules if m.startswith(f"ml.{layer}.")]
        lines.append(f"  subgraph {layer}")
        lines += [f"    {name(m)}[{m.removeprefix(f'ml.{layer}.')}]" for m in inside]
        lines.append("  end")
    lines += [f"  {name(m)}[{m.removeprefix('ml.')}]" for m in modules if m.count(".") == 1]
    lines += [f"  {name(a)} --> {name(b)}" for a, b in sorted(found)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path.cwd()))
    found = edges()
    print(mermaid(found))
    loops = cycles(found)
    print(f"%% {len(found)} imports; cycles: {loops or 'none'}")
    sys.exit(1 if loops else 0)
