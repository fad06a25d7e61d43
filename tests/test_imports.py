"""The modules of curate import each other without a cycle, lazy imports inside functions included.

A cycle hidden in a function body still ties two modules together (neither can change its
top-level imports without thinking of the other), so the graph counts every import statement
except those under ``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import curate

PACKAGE_ROOT = Path(curate.__file__).resolve().parent

#: The one allowed loop: each ``curate.cli.commands.*`` module attaches its command to the click
#: group ``curate.cli.main``, which imports the command modules once it exists — click's
#: registration pattern, not a dependency between pieces of the library.
CLI_REGISTRATION = "curate.cli"


def _module_names() -> dict[str, Path]:
    """Dotted name -> file, for every module and package under curate/."""
    names = {}
    for path in PACKAGE_ROOT.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The curate modules ``module`` imports: ``from a import b`` names ``a.b`` when that is a
    module, else ``a`` (where ``b`` is defined)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name in modules)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for alias in child.names:
                    if f"{base}.{alias.name}" in modules:
                        found.add(f"{base}.{alias.name}")
                    elif base in modules:
                        found.add(base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module)
    if module.startswith(CLI_REGISTRATION + ".commands."):
        found.discard(CLI_REGISTRATION)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the curate modules it imports."""
    modules = _module_names()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that returns to its start, or None when it is acyclic."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt in on_stack:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in done:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_find_cycle_reports_a_loop_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_lazy_imports():
    graph = import_graph()
    assert "curate.storage" in graph["curate.workspace"]
    assert "curate.embed.store" in graph["curate.data"]  # imported inside a function there


def test_curate_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_storage_is_at_the_bottom():
    """The storage layer imports nothing of curate that could reach back up to it: its version and
    its error types, which import nothing of curate themselves."""
    graph = import_graph()
    assert graph["curate.storage"] <= {"curate.version", "curate.errors"}
    assert graph["curate.errors"] == set()
