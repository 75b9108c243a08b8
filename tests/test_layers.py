"""The layout is the architecture: data -> model access -> (world) -> methods -> evaluation -> reports/serve
-> API and CLI. A module may import its own layer and those below, never one above."""

import ast
from pathlib import Path

import polyedit

LAYERS = {"errors": 0, "data": 1, "models": 2, "world": 3, "methods": 4, "evaluation": 5, "reports": 6,
          "serve": 6, "api": 7, "sweep": 7, "cli": 7, "__init__": 7}
ROOT = Path(polyedit.__file__).parent


def _layer(parts: list[str]) -> int:
    return LAYERS[parts[0].removesuffix(".py")] if parts else LAYERS["__init__"]


def test_no_module_imports_a_higher_layer():
    bad = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).parts
        own = _layer(list(rel))
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                if parts[0] != "polyedit" or len(parts) < 2:
                    continue
                if _layer(parts[1:]) > own:
                    bad.append(f"{'/'.join(rel)} imports {name}")
    assert not bad, "\n".join(bad)
