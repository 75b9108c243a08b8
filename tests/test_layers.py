"""The layout is the architecture: data -> model access -> (world) -> methods -> evaluation -> reports/serve
-> API and CLI. A module may import its own layer and those below, never one above: not by an import
statement, and not by a dynamic import (`importlib.import_module`, `__import__`, a registry's
`import_submodules`, a `pkgutil` walk of another package), whose module name is read from the string."""

import ast
from pathlib import Path

import polyedit

LAYERS = {"errors": 0, "registry": 0, "seeds": 0, "data": 1, "models": 2, "world": 3, "methods": 4, "evaluation": 5,
          "reports": 6, "serve": 6, "api": 7, "sweep": 7, "tune": 7, "cli": 7, "__init__": 7}
ROOT = Path(polyedit.__file__).parent
#: calls whose first argument names a module they import (or whose modules they import)
DYNAMIC = {"import_module", "__import__", "import_submodules", "find_spec", "walk_packages", "iter_modules"}


def _layer(parts: list[str]) -> int:
    return LAYERS[parts[0].removesuffix(".py")] if parts else LAYERS["__init__"]


def _literal_prefix(node: ast.expr) -> str | None:
    """The module name a string argument spells, or the constant start of an f-string
    (`f"polyedit.data.{name}"` -> `polyedit.data.`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return None


def imported_names(source: str) -> list[str]:
    """Every polyedit module `source` imports, statically or dynamically."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            name = _literal_prefix(node.args[0]) if func in DYNAMIC else None
            if name:
                names.append(name.rstrip("."))
    return [n for n in names if n.split(".")[0] == "polyedit" and len(n.split(".")) >= 2]


def upward_imports(rel: tuple[str, ...], source: str) -> list[str]:
    own = _layer(list(rel))
    return [f"{'/'.join(rel)} imports {name}" for name in imported_names(source)
            if _layer(name.split(".")[1:]) > own]


def test_no_module_imports_a_higher_layer():
    bad = []
    for path in ROOT.rglob("*.py"):
        bad += upward_imports(path.relative_to(ROOT).parts, path.read_text("utf-8"))
    assert not bad, "\n".join(bad)


def test_the_check_sees_dynamic_imports():
    rel = ("data", "registry.py")
    assert upward_imports(rel, 'import importlib\nimportlib.import_module("polyedit.world.dataset")')
    assert upward_imports(rel, 'from importlib import import_module\nimport_module("polyedit.methods.rome")')
    assert upward_imports(rel, '__import__("polyedit.evaluation.runner")')
    assert upward_imports(rel, 'import importlib\nfor m in ms:\n    importlib.import_module(f"polyedit.cli.{m}")')
    assert upward_imports(rel, 'discover = import_submodules("polyedit.world")')
    assert upward_imports(rel, 'from polyedit.api import bench')
    assert not upward_imports(rel, 'importlib.import_module(f"polyedit.data.{m}")\nimport polyedit.data.cases\nimport polyedit.errors')
    assert not upward_imports(("cli", "main.py"), 'importlib.import_module("polyedit.world.dataset")')


def _module_name(path: Path) -> str:
    parts = ("polyedit",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycles():
    """No two modules import each other, directly or round a loop (a lazy import inside a function
    counts: it only hides the cycle). A registry's discovery walk of its own package is not an edge: it is
    how self-registering modules are found, and they import the registry, not the other way round."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                  and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")):
                targets = [str(node.args[0].value)]
            # a package and its own submodules importing each other is how packages work: not an edge
            edges |= {t for t in targets if t in modules and t != name
                      and not t.startswith(name + ".") and not name.startswith(t + ".")}
        graph[name] = edges
    cycles, state = [], {}

    def visit(n, stack):
        state[n] = "open"
        for t in sorted(graph[n]):
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert not cycles, "\n".join(cycles)
