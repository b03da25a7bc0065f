"""The package's architecture as rules: layers, no import cycles, modules small enough to read.

The layers, from the bottom:

- C{wire} and C{messages}: the sans-io codec. They import nothing of
  kafkatwist but C{errors}, each other, and never Twisted.
- the domain: C{config}, C{storage}, C{topics}, C{producers}, C{groups},
  C{fetchsessions}, C{quotas}, C{broker} (the composition root), C{clock}, C{errors}. They
  never import the handler layer (C{apis}) or the transport.
- C{apis}: one module per API, over the domain.
- C{transport}: framing, dispatch, the service and its options, over all.

Imports are read from the source (C{ast}), function-local and
C{TYPE_CHECKING} ones included, so a cycle cannot hide behind a late import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

PACKAGE = Path(__file__).resolve().parent.parent / "kafkatwist"

#: Hand-written modules stay below this many lines (generated messages/ excepted).
MAX_LINES = 500

_SANS_IO = ("wire", "messages")
_DOMAIN = (
    "config",
    "storage",
    "topics",
    "producers",
    "groups",
    "fetchsessions",
    "quotas",
    "broker",
    "clock",
    "errors",
)
_UPPER = ("apis", "transport")


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(name: str, path: Path) -> Iterator[tuple[str, bool]]:
    """The kafkatwist modules C{name} imports, each with whether it is function-local."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    local: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local.update(id(sub) for sub in ast.walk(node))
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        for target in targets:
            if target == "kafkatwist" or target.startswith("kafkatwist."):
                yield target, id(node) in local


def _graph() -> dict[str, set[str]]:
    modules = dict(_modules())
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, _ in _imports(name, path):
            if target in modules and target != name:
                graph[name].add(target)
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


class ArchitectureTests(SynchronousTestCase):
    """The layering and size rules of the package hold."""

    def test_no_import_cycles(self) -> None:
        """No kafkatwist module imports itself back, directly or through others."""
        graph = _graph()
        cycles: list[list[str]] = []
        state: dict[str, int] = {}

        def visit(node: str, stack: list[str]) -> None:
            state[node] = 1
            stack.append(node)
            for nxt in sorted(graph[node]):
                if state.get(nxt) == 1:
                    cycles.append(stack[stack.index(nxt) :] + [nxt])
                elif nxt not in state:
                    visit(nxt, stack)
            stack.pop()
            state[node] = 2

        for node in sorted(graph):
            if node not in state:
                visit(node, [])
        # A package importing its own submodules for re-export is not a cycle
        # of code: only report cycles through at least one non-package edge.
        real = [
            c
            for c in cycles
            if not all(b.startswith(a + ".") for a, b in zip(c, c[1:], strict=False))
        ]
        self.assertEqual(real, [])

    def test_sans_io_imports(self) -> None:
        """wire/ and messages/ import only errors, wire and messages of kafkatwist."""
        allowed = ("kafkatwist.errors", "kafkatwist.wire", "kafkatwist.messages")
        bad = [
            (name, target)
            for name, path in _modules()
            if _layer(name) in _SANS_IO
            for target, _ in _imports(name, path)
            if not target.startswith(allowed)
        ]
        self.assertEqual(bad, [])
        for name, path in _modules():
            if _layer(name) in _SANS_IO:
                self.assertNotIn("import twisted", path.read_text(), name)
                self.assertNotIn("from twisted", path.read_text(), name)

    def test_domain_never_imports_handlers_or_transport(self) -> None:
        """Nothing below the handler layer imports kafkatwist.apis or kafkatwist.transport."""
        bad = [
            (name, target)
            for name, path in _modules()
            if _layer(name) in _DOMAIN
            for target, _ in _imports(name, path)
            if _layer(target) in _UPPER
        ]
        self.assertEqual(bad, [])

    def test_no_function_local_imports(self) -> None:
        """kafkatwist modules import each other at module level (the tap excepted)."""
        # The tap imports the service (and so the reactor) only when twistd
        # runs the plugin: importing the plugin must stay free. So does the
        # pytest plugin, which every pytest run imports where kafkatwist is installed.
        exempt = {"kafkatwist.transport.tap", "kafkatwist.testing.plugin"}
        bad = [
            (name, target)
            for name, path in _modules()
            if name not in exempt
            for target, is_local in _imports(name, path)
            if is_local
        ]
        self.assertEqual(bad, [])

    def test_modules_are_small(self) -> None:
        """Every hand-written module has at most MAX_LINES lines."""
        big = {
            name: lines
            for name, path in _modules()
            if _layer(name) != "messages"
            and (lines := len(path.read_text().splitlines())) > MAX_LINES
        }
        self.assertEqual(big, {})

    def test_tests_never_mktemp(self) -> None:
        """No test calls trial's C{TestCase.mktemp}: under pytest it writes into the checkout."""
        tests = PACKAGE.parent / "tests"
        call = "self." + "mktemp()"
        users = sorted(
            str(path.relative_to(tests))
            for path in tests.rglob("*.py")
            if call in path.read_text().replace(f"Not {call}", "")
        )
        self.assertEqual(users, [])

    def test_the_rules_see_the_package(self) -> None:
        """The rules read every package of the layout (so they cannot pass vacuously)."""
        layers = {_layer(name) for name, _ in _modules()}
        self.assertTrue(set(_SANS_IO + _DOMAIN + _UPPER) <= layers, layers)
        self.assertIn("kafkatwist.storage.interfaces", _graph()["kafkatwist.broker"])
