"""Rules about the code's shape that a reviewer would otherwise have to remember.

- Imports run one way: pages/components -> state -> services -> notify/models. Services and
  notify never import Reflex, state or pages; notify imports nothing of ours but notify and the models.
- No module imports another module's private (underscore) names.
- No function over 60 lines, unless a comment on the line above its `def` says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "portal_app"
MAX_LINES = 60


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in sorted(APP.rglob("*.py"))]


def _imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def test_imports_run_one_way():
    wrong = []
    for path, tree in _modules():
        layer = path.relative_to(APP).parts[0]
        for module, _names in _imports(tree):
            if layer in ("services", "notify", "models.py") and (
                    module.split(".")[0] == "reflex" or module.startswith(("portal_app.state", "portal_app.pages"))):
                wrong.append(f"{path.relative_to(APP)} imports {module}")
            if layer == "notify" and module.startswith("portal_app.") and not module.startswith(
                    ("portal_app.notify", "portal_app.models")):
                wrong.append(f"{path.relative_to(APP)} imports {module}")
            if layer == "state" and module.startswith(("portal_app.pages", "portal_app.components")):
                wrong.append(f"{path.relative_to(APP)} imports {module}")
    assert wrong == []


def test_no_module_imports_another_modules_private_names():
    private = [f"{path.relative_to(APP)}: {module}.{name}"
               for path, tree in _modules() for module, names in _imports(tree)
               if module.startswith("portal_app") for name in names if name.startswith("_")]
    assert private == []


def test_no_function_over_sixty_lines_without_a_reason():
    long = []
    for path, tree in _modules():
        lines = path.read_text().splitlines()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            reason = lines[first - 2].strip().startswith("#") if first >= 2 else False
            if node.end_lineno - node.lineno + 1 > MAX_LINES and not reason:
                long.append(f"{path.relative_to(APP)}:{node.lineno} {node.name}")
    assert long == []
