"""The sans-IO modules must never import trio (and only the exchange imports h11).

Everything that decides is synchronous and testable without sockets; an import of trio
creeping into the parser, the HTTP framing or the reconnect policy would break that rule
silently. Two independent checks: a static walk of the import statements (following the
package's own modules transitively, so a helper module cannot smuggle trio in), and a
runtime import of each module in a fresh interpreter without the package ``__init__``
(which legitimately imports the Trio session).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "trio_sse"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE

# module -> top-level packages it must not import, directly or through sibling modules
FORBIDDEN = {
    "_parser": frozenset({"trio", "h11"}),
    "_urls": frozenset({"trio", "h11"}),
    "_headers": frozenset({"trio", "h11"}),
    "_response": frozenset({"trio", "h11"}),
    "_request": frozenset({"trio", "h11"}),
    "_decoders": frozenset({"trio", "h11"}),
    "_framing": frozenset({"trio", "h11"}),
    "_judge": frozenset({"trio", "h11"}),
    "_exchange": frozenset({"trio"}),
    "_reconnect": frozenset({"trio"}),
    "_proxy": frozenset({"trio"}),
    "_retry": frozenset({"trio", "h11"}),
    "_deserialize": frozenset({"trio", "h11", "pydantic", "msgspec"}),
}


def _is_type_checking_guard(node: ast.If) -> bool:
    """``if TYPE_CHECKING:`` / ``if typing.TYPE_CHECKING:`` blocks never run."""
    test = node.test
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that can execute, skipping TYPE_CHECKING-only blocks."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking_guard(node):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _imports_of(module: str) -> tuple[set[str], set[str]]:
    """(external top-level packages, sibling modules of trio_sse) that ``module`` imports."""
    path = PACKAGE_DIR / f"{module}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    external: set[str] = set()
    siblings: set[str] = set()
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == PACKAGE:
                    if len(parts) > 1:
                        siblings.add(parts[1])
                else:
                    external.add(parts[0])
        elif node.level == 0:  # from x.y import z
            assert node.module is not None
            parts = node.module.split(".")
            if parts[0] == PACKAGE:
                if len(parts) > 1:
                    siblings.add(parts[1])
                else:  # from trio_sse import _x
                    siblings.update(alias.name for alias in node.names)
            else:
                external.add(parts[0])
        elif node.level == 1:  # from .x import y / from . import x
            if node.module:
                siblings.add(node.module.split(".")[0])
            else:
                siblings.update(alias.name for alias in node.names)
        else:
            raise AssertionError(f"{module}: unexpected relative import level {node.level}")
    # Importing the package itself runs __init__, which is allowed to import trio: a
    # sans-IO module must import its siblings directly, not through the package.
    return external, siblings - {"__init__"}


def _transitive_imports(module: str) -> dict[str, set[str]]:
    """Every sibling module reachable from ``module``, with its external imports."""
    seen: dict[str, set[str]] = {}
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        path = PACKAGE_DIR / f"{current}.py"
        assert path.is_file(), f"{PACKAGE}/{current}.py is missing (imported from {module})"
        external, siblings = _imports_of(current)
        seen[current] = external
        todo.extend(siblings)
    return seen


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_module_exists(module: str) -> None:
    """Every sans-IO module is part of the package (docs/architecture.md, "The layers")."""
    assert (PACKAGE_DIR / f"{module}.py").is_file(), f"{PACKAGE}/{module}.py is missing"


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_no_forbidden_imports_statically(module: str) -> None:
    """No import statement in the module or the package modules it pulls in names trio
    (nor h11, for the modules that need no HTTP machine)."""
    offenders = {
        name: sorted(external & FORBIDDEN[module])
        for name, external in _transitive_imports(module).items()
        if external & FORBIDDEN[module]
    }
    assert offenders == {}, f"{module} imports {offenders} (module: forbidden packages)"


def test_parser_pulls_in_only_events_and_exceptions() -> None:
    """The parser's own dependency closure is small; a surprise here deserves a look."""
    closure = _transitive_imports("_parser")
    assert set(closure) <= {"_parser", "_events", "_exceptions"}, sorted(closure)


RUNTIME_CHECK = """
import importlib, sys, types
package_dir, module, forbidden = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
# A bare package object: submodules load, trio_sse/__init__.py (the Trio side) does not.
package = types.ModuleType("trio_sse")
package.__path__ = [package_dir]
sys.modules["trio_sse"] = package
already = [name for name in forbidden if name in sys.modules]
assert not already, f"loaded before the import: {already}"
importlib.import_module("trio_sse." + module)
loaded = sorted(name for name in forbidden if name in sys.modules)
assert not loaded, f"importing trio_sse.{module} loaded {loaded}"
"""


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_no_forbidden_imports_at_runtime(module: str) -> None:
    """Importing the module in a fresh interpreter loads none of the forbidden packages,
    whatever way (importlib, __import__, a helper) it might try."""
    assert (PACKAGE_DIR / f"{module}.py").is_file(), f"{PACKAGE}/{module}.py is missing"
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            RUNTIME_CHECK,
            str(PACKAGE_DIR),
            module,
            ",".join(sorted(FORBIDDEN[module])),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_static_checker_sees_through_relative_and_guarded_imports() -> None:
    """The checker itself: relative imports are followed, TYPE_CHECKING blocks skipped,
    imports inside functions counted."""
    tree = ast.parse(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from . import _a\n"
        "from ._b import x\n"
        "import trio_sse._c\n"
        "if TYPE_CHECKING:\n"
        "    import trio\n"
        "else:\n"
        "    import json\n"
        "def f():\n"
        "    import h11\n"
    )
    names: set[str] = set()
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        else:
            names.add("." * node.level + (node.module or ""))
    assert names == {"__future__", "typing", ".", "._b", "trio_sse._c", "json", "h11"}
