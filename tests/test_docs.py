"""Every ```python block of README.md and docs/*.md runs, against trio_sse.testing.

The convention, for whoever writes the docs (none of it shows in the rendered page):

- Every block fenced ```python is run; there is no way to opt out. Other fences (console,
  toml, text) are not. A fence such as ```py or an indented ```python is an error, so no
  Python block can hide from this test.
- A file's blocks run in order, top to bottom, as a reader reads them, sharing one
  namespace: a name an earlier block defined (a dataclass, a client) is there for the
  later ones. One docs server (below) serves the file on loopback; each block has a
  hang guard of SAFETY seconds.
- URLs: write the origin as ``http://127.0.0.1:8080`` or ``https://example.com`` (a
  proxy as ``http://proxy.example:3128``); the test puts the docs server's origin in
  their place, and its port in place of ``port=8080``. Any path works (see below). The
  proxy environment variables are cleared, so ``trust_env`` finds none.
- A program ends with ``trio.run(main)`` (or ``trio.run(f, *args)``, also inside
  ``if __name__ == "__main__":``): that call becomes ``await main()``, in the test's
  own trio loop.
- A fragment may use top-level ``await``, ``async with`` and ``async for``, and these
  prepared names: ``trio``, ``trio_sse``, ``json`` and ``client`` (a
  ``trio_sse.SSEClient()``) unless an earlier block defined them, and, fresh for each
  block, ``url`` (the docs stream's URL) and ``nursery`` (a trio nursery open around
  the block).
- ``async def test_*`` functions a block defines (examples of users' own tests) are
  called after that block, as pytest would.
- A block may tune the garbage collector as a program would (``gc.set_threshold``,
  ``gc.freeze``, ``gc.disable``): the test puts it back after the file.

The README's comparison table ("trio-sse and its peers") is checked too: every row names,
in its last cell, the tests that prove trio-sse's claim, and each named test must exist.

The docs server (a trio_sse.testing handler) answers any path, GET or POST:

- ``/chat...``: an LLM-style stream, ``token`` events with JSON ``{"delta": ...}`` data,
  then a ``done`` event with ``{"finish_reason": "stop"}``.
- anything else: the docs stream, ``DOCS_EVENTS`` (a comment, ``retry: 10``, typed
  ``customer`` / ``product`` events and untyped ones, all with JSON data and ids),
  three events with an id per connection; a reconnect resumes after its Last-Event-ID,
  and once everything was sent the answer is 204, so reconnecting examples end too.
"""

from __future__ import annotations

import ast
import gc
import json
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trio

import trio_sse
from trio_sse import ServerSentEvent
from trio_sse.testing import DemoHandler, RecordedRequest, ScriptedResponse, open_sse_test_server

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SAFETY = 10  # seconds: a hang guard per block, never part of what is tested
PLACEHOLDER_ORIGINS = ("http://127.0.0.1:8080", "https://example.com", "http://proxy.example:3128")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
PLACEHOLDER_PORT = "port=8080"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


DOCS_EVENTS = [
    ServerSentEvent(comments="welcome to the docs server"),
    ServerSentEvent(retry=10),
    ServerSentEvent(_json({"id": 1, "name": "Ada"}), event="customer", id="1"),
    ServerSentEvent(_json({"sku": "P-2", "price": 9.5}), event="product", id="2"),
    ServerSentEvent(_json({"text": "hello"}), id="3"),
    ServerSentEvent(_json({"id": 4, "name": "Grace"}), event="customer", id="4"),
    ServerSentEvent(_json({"sku": "P-5", "price": 12.0}), event="product", id="5"),
    ServerSentEvent(_json({"text": "bye"}), id="6"),
]
CHAT_DELTAS = ("Hello", " from", " the", " docs", " server", ".")


def docs_handler() -> Callable[[RecordedRequest], ScriptedResponse]:
    stream = DemoHandler(pause=0, per_connection=3, events=DOCS_EVENTS)

    def handle(request: RecordedRequest) -> ScriptedResponse:
        if urlsplit(request.target).path.startswith("/chat"):  # absolute form via a proxy
            tokens = [ServerSentEvent(_json({"delta": d}), event="token") for d in CHAT_DELTAS]
            done = ServerSentEvent(_json({"finish_reason": "stop"}), event="done")
            return ScriptedResponse.events(*tokens, done)
        return stream(request)

    return handle


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    code: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>```+|~~~+)\s*(?P<info>[^`\s]*)")


def extract_blocks(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file; any other Python-looking fence fails."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        info = match["info"].lower()
        is_python = info == "python"
        if info.startswith("py") and (not is_python or match["indent"]):
            raise AssertionError(
                f"{path.name}:{i + 1}: write Python blocks as an unindented ```python fence "
                f"(found {lines[i].strip()!r}), so tests/test_docs.py runs them"
            )
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(match["ticks"]):
            end += 1
        if is_python:
            blocks.append(Block(path, i + 1, "\n".join(lines[i + 1 : end]) + "\n"))
        i = end + 1
    return blocks


BLOCKS = {path: extract_blocks(path) for path in DOC_FILES}
ALL_BLOCKS = [block for blocks in BLOCKS.values() for block in blocks]


class _RunToAwait(ast.NodeTransformer):
    """``trio.run(f, *args)`` as a statement becomes ``await f(*args)``."""

    def __init__(self) -> None:
        self.rewritten = 0

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        call = node.value
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "run"
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == "trio"
            and call.args
            and not call.keywords
        ):
            awaited = ast.Await(ast.Call(call.args[0], call.args[1:], []))
            self.rewritten += 1
            return ast.copy_location(ast.Expr(awaited), node)
        return node

    # Only statements at module level (and under ``if``) are programs' entry points.
    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return node


def prepare(block: Block, origin: str, port: int) -> str:
    code = block.code
    for placeholder in PLACEHOLDER_ORIGINS:
        code = code.replace(placeholder, origin)
    return code.replace(PLACEHOLDER_PORT, f"port={port}")


async def run_block(
    code: str, filename: str, namespace: dict[str, Any], first_line: int = 1
) -> None:
    """Run one block; tracebacks name ``filename`` and the line in it (``first_line``
    is the block's first line there)."""
    tree = ast.increment_lineno(ast.parse(code, filename), first_line - 1)
    runner = _RunToAwait()
    tree = ast.fix_missing_locations(runner.visit(tree))
    defines_main = any(
        isinstance(node, ast.AsyncFunctionDef) and node.name == "main" for node in tree.body
    )
    if defines_main and not runner.rewritten:
        raise AssertionError(f"{filename}:{first_line}: defines main() but never trio.run()s it")
    compiled = compile(tree, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    before = {name: id(value) for name, value in namespace.items()}
    result = eval(compiled, namespace)  # a coroutine when the block awaits at top level
    if result is not None:
        await result
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value) and before.get(name) != id(value):
            await value()


# --------------------------------------------------------------------------- tests


def test_the_docs_have_python_blocks() -> None:
    assert len(ALL_BLOCKS) >= 5
    assert {block.path.name for block in ALL_BLOCKS} >= {"README.md"}


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """The garbage collector's settings as they were, whatever the blocks did to them."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        if enabled:
            gc.enable()
        else:
            gc.disable()


@pytest.mark.usefixtures("no_proxy_variables", "collector_restored")
@pytest.mark.parametrize("path", DOC_FILES, ids=[path.name for path in DOC_FILES])
async def test_every_block_runs_in_order(path: Path) -> None:
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "trio": trio,
        "trio_sse": trio_sse,
        "json": json,
        "client": trio_sse.SSEClient(),
    }
    filename = str(path.relative_to(ROOT))
    async with open_sse_test_server(handler=docs_handler()) as server:
        origin = server.url.rstrip("/")
        for block in BLOCKS[path]:
            with trio.fail_after(SAFETY):
                async with trio.open_nursery() as nursery:
                    namespace["url"] = f"{origin}/events"
                    namespace["nursery"] = nursery
                    code = prepare(block, origin, server.port)
                    await run_block(code, filename, namespace, first_line=block.line + 1)
            assert not server.errors, f"{block.name}: the docs server failed: {server.errors}"


def test_placeholders_are_replaced_everywhere() -> None:
    """No block may point at a real host: each URL must be one the test replaces."""
    for block in ALL_BLOCKS:
        code = block.code
        for placeholder in PLACEHOLDER_ORIGINS:
            code = code.replace(placeholder, "")
        assert not re.search(r"\bhttps?://", code), f"{block.name}: a URL the test cannot serve"


def test_extract_blocks_refuses_python_it_would_not_run(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# x\n\n```python\nprint(1)\n```\n\n```console\n$ ls\n```\n")
    assert [block.code for block in extract_blocks(doc)] == ["print(1)\n"]
    for fence in ("```py", "```python3", "  ```python"):
        doc.write_text(f"text\n\n{fence}\nprint(1)\n```\n")
        with pytest.raises(AssertionError, match=r"unindented ```python fence"):
            extract_blocks(doc)


async def test_trio_run_becomes_await_in_the_harness() -> None:
    program = textwrap.dedent(
        """
        import trio
        seen = []
        async def main(x):
            seen.append(x)
        if __name__ == "__main__":
            trio.run(main, 42)
        """
    )
    namespace: dict[str, Any] = {"__name__": "__main__"}
    await run_block(program, "<program>", namespace)
    assert namespace["seen"] == [42]


async def test_test_functions_run_once_after_the_block_that_defines_them() -> None:
    namespace: dict[str, Any] = {"calls": []}
    await run_block("async def test_a():\n    calls.append('a')\n", "doc.md", namespace)
    await run_block("x = 1\n", "doc.md", namespace)
    assert namespace["calls"] == ["a"]


def test_the_readme_commands_are_the_ones_that_run() -> None:
    """The two commands the README promises: the demo, and the test command CI runs."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    demo = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/trio-sse demo"
    tests = "python3 -m venv .venv && .venv/bin/pip install nox && .venv/bin/nox -s tests"
    assert demo in readme
    assert tests in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "nox -s tests" in ci


def test_the_tests_run_on_every_python_pyproject_claims() -> None:
    """noxfile.py's PYTHONS, which the tests session runs on, start at requires-python's
    minimum and skip no version; the classifiers and the README name the same ones."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    (pythons,) = [
        ast.literal_eval(node.value)
        for node in ast.parse(noxfile).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "PYTHONS"
    ]
    assert "@nox.session(python=PYTHONS)\ndef tests(" in noxfile
    (minimum,) = re.findall(r'^requires-python = ">=(3\.\d+)"$', pyproject, re.MULTILINE)
    assert pythons[0] == minimum
    minors = [int(version.removeprefix("3.")) for version in pythons]
    assert minors == list(range(minors[0], minors[-1] + 1))
    assert re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject) == pythons
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"Python {', '.join(pythons[:-1])} and {pythons[-1]} that nox finds" in readme


async def test_a_program_that_never_runs_main_is_an_error() -> None:
    with pytest.raises(AssertionError, match=r"never trio\.run"):
        await run_block("async def main():\n    pass\n", "README.md", {})


async def test_a_failing_block_is_reported_at_its_line_in_the_doc() -> None:
    with pytest.raises(ZeroDivisionError) as info:
        await run_block("x = 1\n1 / 0\n", "README.md", {}, first_line=40)
    assert info.traceback[-1].lineno + 1 == 41  # pytest's line numbers are 0-based
    assert Path(info.traceback[-1].path).name == "README.md"


PROOF = re.compile(r"`(test_\w+\.py)(?:::(\w+))?`")


def comparison_rows() -> list[str]:
    """The rows of the README's comparison table (the section "trio-sse and its peers")."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## trio-sse and its peers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return rows[1:]  # without the header row (the separator row starts with "| ---")


def test_every_comparison_row_names_tests_that_exist() -> None:
    """The table claims only what a test proves: each row's last cell names test files
    (and functions) under tests/, and each one exists, so a renamed test breaks this."""
    rows = [row for row in comparison_rows() if not row.startswith("| ---")]
    assert len(rows) >= 15
    for row in rows:
        proof = row.rstrip(" |").rsplit("|", 1)[1]
        if "the whole suite" in proof:
            continue
        references = PROOF.findall(proof)
        assert references, f"no test named for: {row[:60]}"
        for filename, function in references:
            source = (ROOT / "tests" / filename).read_text(encoding="utf-8")
            if function:
                assert re.search(rf"^(async )?def {function}\(", source, re.M), (
                    f"{filename} has no test {function} (named in the README's table)"
                )
