"""Every field of every advertised version is handled, or declared unused with a reason.

For each L{ApiSpec} of the registry and each version it advertises, the
request and response models are walked (nested structs included) for the
fields that exist at one of those versions. A request field must be read by
the handler and a response field set by it, unless the spec lists it in
C{unused_fields} (C{"StructName.field": "reason"}).

How "read" and "set" are checked, and what that does not prove: the check is
static. The modules looked at are those the handler's module reaches by
imports (C{kafkatwist.messages} and C{kafkatwist.wire}, the codec, left out)
that either belong to C{kafkatwist.apis} (the handler and its helpers) or
import the request's (response's) message module, i.e. deal with that
message. In them a request field counts as read when its attribute name is
accessed (C{x.name}), a response field as set when its name is passed as a
keyword (C{Model(name=...)}, C{attrs.evolve(r, name=...)}) or used as a
string key (C{kwargs["name"] = ...}, C{{"name": ...}}). So it proves that a
field's name is handled in code that deals with the message, not that this
handler honours it at the right version: fields of the same name
(C{high_watermark} in a fetch request and in its response) are not told
apart. It does catch what a version bump most often forgets, a new field
nobody mentions; the per-version unit tests of each API carry the
semantics. A declaration must name a field that exists at an advertised
version and give a reason, so declarations cannot go stale silently.

One name is handled here for every API: C{throttle_time_ms}
(L{THROTTLE_TIME}), which the dispatcher sets from the client quotas.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, ApiSpec
from kafkatwist.messages.fetch import FetchRequest
from kafkatwist.wire.schema import field_specs
from kafkatwist.wire.versions import VersionRange

ROOT = Path(__file__).resolve().parent.parent.parent
#: The codec: it touches every field by construction, so it proves nothing.
_CODEC = ("kafkatwist.messages", "kafkatwist.wire")
#: The handler layer: its helper modules deal with several messages through protocols.
_APIS = "kafkatwist.apis"
#: Handled for every API outside its handler: each response's throttle time is
#: set by the dispatcher from the client quotas (KIP-13, KIP-124:
#: L{kafkatwist.apis._quotas.with_throttle}), not by each handler.
THROTTLE_TIME = "throttle_time_ms"


def _path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


@cache
def _tree(module: str) -> ast.Module:
    path = _path(module)
    assert path is not None, module
    return ast.parse(path.read_text(encoding="utf-8"))


def _imports(module: str) -> Iterator[str]:
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("kafkatwist"):
                yield node.module
                for alias in node.names:
                    yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("kafkatwist"))


@cache
def _reached(start: str) -> frozenset[str]:
    """C{start} and every kafkatwist module it imports, transitively, the codec left out."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        if module in seen or module.startswith(_CODEC) or _path(module) is None:
            continue
        seen.add(module)
        todo.extend(_imports(module))
    return frozenset(seen)


@cache
def _names(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """The attribute names C{module} reads, and the names it sets (keywords, string keys)."""
    reads: set[str] = set()
    sets: set[str] = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Attribute):
            reads.add(node.attr)
        elif isinstance(node, ast.keyword) and node.arg is not None:
            sets.add(node.arg)
        elif isinstance(node, ast.Dict):
            sets.update(
                k.value
                for k in node.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            )
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            if isinstance(node.slice.value, str):
                sets.add(node.slice.value)
    return frozenset(reads), frozenset(sets)


def _deals_with(module: str, message_module: str) -> bool:
    """Whether C{module} is of the handler layer or imports C{message_module}."""
    if module == _APIS or module.startswith(_APIS + "."):
        return True
    return any(i == message_module for i in _imports(module))


def _handled(spec: ApiSpec) -> tuple[set[str], set[str]]:
    """The request field names read and the response field names set, by the modules that may."""
    reads: set[str] = set()
    sets: set[str] = set()
    for module in _reached(spec.handle.__module__):
        if _deals_with(module, spec.request.__module__):
            reads |= _names(module)[0]
        if _deals_with(module, spec.response.__module__):
            sets |= _names(module)[1]
    return reads, sets


def _fields(cls: type, versions: VersionRange) -> Iterator[tuple[str, str]]:
    """(C{Struct.field}, attribute name) of every field of C{cls}'s tree present in C{versions}."""
    seen: set[type] = set()
    todo = [cls]
    while todo:
        struct = todo.pop()
        if struct in seen:
            continue
        seen.add(struct)
        for attribute, spec in field_specs(struct):
            if spec.versions.intersect(versions).empty:
                continue
            yield f"{struct.__name__}.{attribute.name}", attribute.name
            if spec.struct is not None:
                todo.append(spec.struct)


class AdvertisedFieldsTests(SynchronousTestCase):
    def test_every_field_handled_or_declared(self) -> None:
        """Every advertised request field is read and response field set, or declared unused."""
        missing = []
        for spec in REGISTRY:
            reads, sets = _handled(spec)
            for cls, handled, verb in ((spec.request, reads, "read"), (spec.response, sets, "set")):
                for path, name in _fields(cls, spec.advertised):
                    if name == THROTTLE_TIME and cls is spec.response:
                        continue
                    if name not in handled and path not in spec.unused_fields:
                        missing.append(f"{spec.name} v{spec.advertised}: {path} never {verb}")
        self.assertEqual(missing, [], "\n".join(missing))

    def test_declarations_name_real_fields(self) -> None:
        """Every declared unused field exists at an advertised version and has a reason."""
        stale = []
        for spec in REGISTRY:
            present = {
                path
                for cls in (spec.request, spec.response)
                for path, _ in _fields(cls, spec.advertised)
            }
            for path, reason in spec.unused_fields.items():
                if path not in present or not reason.strip():
                    stale.append(f"{spec.name}: {path}")
        self.assertEqual(stale, [], "\n".join(stale))

    def test_walk_sees_nested_fields(self) -> None:
        """The walk reaches nested structs and stops at the versions asked for."""
        paths = dict(_fields(FetchRequest, VersionRange(18, 18)))
        self.assertIn("FetchPartition.high_watermark", paths)
        self.assertIn("ReplicaState.replica_epoch", paths)
        self.assertNotIn(
            "FetchPartition.replica_directory_id", dict(_fields(FetchRequest, VersionRange(0, 16)))
        )
