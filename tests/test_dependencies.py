"""Every package trio_sse imports is one it declares: a dependency that is only there
because another package happens to install it (exceptiongroup, through trio, on
Python 3.10) breaks the day that package stops needing it.

The check reads the import statements that run when a module is imported (module
level, through ``if`` blocks, but not under ``TYPE_CHECKING``, in a function, or
guarded by ``try``: those are optional) and the requirements pip sees in the installed
metadata.
"""

from __future__ import annotations

import ast
import sys
from importlib.metadata import distributions, requires
from pathlib import Path

from packaging.requirements import Requirement

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "trio_sse"
RUNTIME_DEPENDENCIES = {"trio", "h11"}  # README: "Runtime dependencies: trio and h11"


def _runs_here(test: ast.expr) -> bool | None:
    """Whether an ``if`` test is true on this Python, for the ``sys.version_info``
    comparisons the package uses as guards; None for any other test."""
    source = ast.unparse(test)
    if source.startswith("sys.version_info"):
        return bool(eval(source, {"sys": sys}))  # a literal comparison of the version
    return None


def _imports(body: list[ast.stmt], runs: bool) -> list[tuple[str, bool]]:
    """(top-level name, whether the statement runs on this Python) of each import that
    runs when the module is imported."""
    found: list[tuple[str, bool]] = []
    for node in body:
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], runs) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], runs))
        elif isinstance(node, ast.If) and ast.unparse(node.test) != "TYPE_CHECKING":
            here = _runs_here(node.test)
            found += _imports(node.body, runs and here is not False)
            found += _imports(node.orelse, runs and here is not True)
    return found


def third_party_imports() -> dict[str, bool]:
    """Each third-party package imported at module level: whether it is imported on
    this Python."""
    names: dict[str, bool] = {}
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        for name, runs in _imports(ast.parse(path.read_text()).body, True):
            if name in sys.stdlib_module_names or name in ("__future__", "trio_sse"):
                continue
            names[name] = names.get(name, False) or runs
    return names


def distribution_of(module: str) -> str:
    """The installed distribution that provides a top-level module (read from the
    distributions' file lists: Python 3.10's ``packages_distributions`` only reads
    top_level.txt, which many wheels no longer ship)."""
    wanted = {f"{module}/__init__.py", f"{module}.py"}
    for distribution in distributions():
        if any(str(path) in wanted for path in distribution.files or ()):
            return _normalized(distribution.metadata["Name"])
    raise LookupError(f"no installed distribution provides {module}")


def _normalized(name: str) -> str:
    return name.lower().replace("_", "-")


def declared() -> dict[str, Requirement]:
    """The runtime requirements (no extra), by normalized distribution name."""
    found: dict[str, Requirement] = {}
    for line in requires("trio-sse") or []:
        requirement = Requirement(line)
        if requirement.marker is None or "extra" not in str(requirement.marker):
            found[_normalized(requirement.name)] = requirement
    return found


def test_each_imported_package_is_declared() -> None:
    requirements = declared()
    imported = third_party_imports()
    assert {"trio", "h11", "exceptiongroup"} <= imported.keys()  # the walk sees them
    for name, runs_here in imported.items():
        # A package imported only on other Pythons may not be installed here: its
        # distribution is then the one of the same name.
        distribution = distribution_of(name) if runs_here else _normalized(name)
        requirement = requirements.get(distribution)
        assert requirement is not None, f"trio_sse imports {name} but does not declare it"
        if runs_here:  # imported on this Python: the marker must install it here
            assert requirement.marker is None or requirement.marker.evaluate(), requirement


def test_nothing_else_is_required() -> None:
    """The README's promise: trio and h11, and only what a Python lacks (a backport)."""
    requirements = declared()
    unconditional = {name for name, r in requirements.items() if r.marker is None}
    assert unconditional == RUNTIME_DEPENDENCIES
    for requirement in requirements.values():
        if requirement.marker is not None:
            assert "python_version" in str(requirement.marker), requirement
