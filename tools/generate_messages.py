#!/usr/bin/env python3
# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Generate kafkatwist's attrs models from Apache Kafka's JSON message schemas.

Usage: python tools/generate_messages.py [SCHEMA_DIR] [OUT_DIR]

SCHEMA_DIR defaults to ../shared/kafka-schemas beside the checkout and holds
Kafka's ``message/``, ``metadata/``, ``group-coordinator/``,
``transaction-coordinator/`` and ``raft/`` folders (a Kafka 4.0 snapshot).
The APIs named in L{NEWER} are taken instead from the ``message/`` folder of
a later Kafka release, found beside SCHEMA_DIR (``kafka-schemas-4.3`` for
Kafka 4.3.0); each module's docstring says which Kafka version it came from.
OUT_DIR defaults to ``kafkatwist/messages``.

Each API's request and response go into one module named after it
(``FetchRequest.json`` + ``FetchResponse.json`` -> ``fetch.py``); each record
folder becomes one module (``metadata_records.py`` ...). Field names are the
snake_case of the JSON names, struct names are Kafka's own. Where two
different structs share a name in one module, they are suffixed with the
name of the schema that owns them (``...Request`` / ``...Response``).
The models carry their wire layout in attrs metadata; the codecs are built
from it at run time, once per (message, version), by ``kafkatwist.wire.schema``.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from pathlib import Path
from typing import Any, TypeAlias

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_SCHEMAS = ROOT.parent / "shared" / "kafka-schemas"
DEFAULT_OUT = ROOT / "kafkatwist" / "messages"

#: A JSON object of a schema: a message, a struct or a field.
Json: TypeAlias = dict[str, Any]

PRIMITIVES = {
    "int8": "int",
    "int16": "int",
    "uint16": "int",
    "int32": "int",
    "uint32": "int",
    "int64": "int",
    "float64": "float",
    "bool": "bool",
    "uuid": "uuid.UUID",
    "string": "str",
    "bytes": "bytes",
    "records": "Records",
}

#: The Kafka version of the schemas in SCHEMA_DIR.
BASE_VERSION = "4.0"
#: APIs (module names) generated from a later release's schemas, with the
#: folder beside SCHEMA_DIR that holds them and that release's version: the
#: transaction APIs whose versions Kafka 4.x clients use for transaction
#: version 2 (Produce v12, TxnOffsetCommit v5, EndTxn v5) and the
#: transaction-related APIs that later releases extended.
NEWER: dict[str, tuple[str, str]] = {
    name: ("kafka-schemas-4.3", "4.3.0")
    for name in (
        "add_offsets_to_txn",
        "add_partitions_to_txn",
        "describe_producers",
        "describe_transactions",
        "end_txn",
        "init_producer_id",
        "list_transactions",
        "produce",
        "txn_offset_commit",
        "write_txn_markers",
    )
}

RECORD_FOLDERS = {
    "metadata": "metadata_records",
    "group-coordinator": "group_coordinator_records",
    "transaction-coordinator": "transaction_coordinator_records",
    "raft": "raft_records",
}


def load_json(path: Path) -> Json:
    """Kafka's schema files are JSON with whole-line // comments."""
    lines = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("//")]
    schema: Json = json.loads("\n".join(lines))
    return schema


def snake(name: str) -> str:
    """Kafka's CamelCase field names in snake_case, unchanged otherwise."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.lower()
    return s + "_" if keyword.iskeyword(s) else s


def module_name(message_name: str) -> str:
    for suffix in ("Request", "Response"):
        if message_name.endswith(suffix):
            message_name = message_name[: -len(suffix)]
    return snake(message_name)


def canonical(fields: list[Json]) -> str:
    """A struct's definition without its prose, to tell identical structs apart."""

    def strip(f: Json) -> Json:
        out = {k: v for k, v in f.items() if k not in ("about",)}
        if "fields" in out:
            out["fields"] = [strip(x) for x in out["fields"]]
        return out

    return json.dumps([strip(f) for f in fields], sort_keys=True)


class Struct:
    def __init__(self, name: str, fields: list[Json], owner: str, top: Json | None = None):
        self.kafka_name = name
        self.name = name
        self.fields = fields
        self.owner = owner
        self.top = top  # the schema itself, for top-level messages
        self.deps: list[Struct] = []


class Module:
    """Collects the structs of one generated module and emits its source."""

    def __init__(self, name: str, sources: list[str], kafka_version: str = BASE_VERSION):
        self.name = name
        self.sources = sources
        self.kafka_version = kafka_version
        self.order: list[Struct] = []
        self.by_key: dict[tuple[str, str], Struct] = {}

    def add_schema(self, schema: Json) -> None:
        owner = schema["name"]
        common = {c["name"]: c for c in schema.get("commonStructs", [])}
        scope: dict[str, Struct] = {}

        def resolve(name: str, fields: list[Json] | None) -> Struct:
            if fields is None:
                if name in scope:
                    return scope[name]
                if name in common:
                    fields = common[name]["fields"]
                else:
                    raise SystemExit(f"{owner}: unknown struct type {name}")
            key = (name, canonical(fields))
            st = self.by_key.get(key)
            if st is None:
                st = Struct(name, fields, owner)
                self.by_key[key] = st
                st.deps = [
                    resolve(elem, f.get("fields"))
                    for f in fields
                    if (elem := f["type"].removeprefix("[]")) not in PRIMITIVES
                ]
                self.order.append(st)
            scope[name] = st
            return st

        top = Struct(owner, schema["fields"], owner, top=schema)
        top.deps = [
            resolve(elem, f.get("fields"))
            for f in schema["fields"]
            if (elem := f["type"].removeprefix("[]")) not in PRIMITIVES
        ]
        self.order.append(top)
        scope[owner] = top

    def assign_names(self) -> None:
        by_name: dict[str, list[Struct]] = {}
        for st in self.order:
            by_name.setdefault(st.kafka_name, []).append(st)
        for name, group in by_name.items():
            if len(group) > 1:
                for st in group:
                    if st.top is None:
                        suffix = st.owner
                        for s in ("Request", "Response"):
                            if st.owner.endswith(s) and not name.endswith(s):
                                suffix = s
                                break
                        st.name = name + suffix
                names = [st.name for st in group]
                if len(set(names)) != len(names):
                    for st in group:
                        if st.top is None:
                            st.name = st.owner + name
                    names = [st.name for st in group]
                    if len(set(names)) != len(names):
                        raise SystemExit(f"{self.name}: cannot name structs {name}")

    def emit(self) -> str:
        self.assign_names()
        out = [
            f'"""Kafka {self.title()} models, generated from Kafka\'s JSON schemas.',
            "",
            f"Sources (Apache Kafka {self.kafka_version}, Apache License 2.0):",
            *(f"  {s}" for s in self.sources),
            '"""',
            "",
            "# Generated by tools/generate_messages.py. Do not edit by hand: re-run the generator.",
            "# ruff: noqa: E501, F401",
            "",
            "from __future__ import annotations",
            "",
            "import uuid",
            "",
            "from attrs import frozen",
            "",
            # Each class is preceded by two blank lines: none more here, so the
            # output is what ruff's import sorting leaves unchanged.
            "from kafkatwist.wire.schema import Records, kfield, message",
        ]
        emitted: set[int] = set()

        def visit(st: Struct) -> None:
            if id(st) in emitted:
                return
            for d in st.deps:
                visit(d)
            emitted.add(id(st))
            out.extend(["", "", *self.emit_struct(st)])

        for st in self.order:
            visit(st)
        names = [st.name for st in self.order]
        out.extend(["", "", "__all__ = ["])
        out.extend(f'    "{n}",' for n in sorted(names))
        out.append("]")
        out.append("")
        return "\n".join(out)

    def title(self) -> str:
        return self.name.replace("_", " ")

    def struct_for(self, owner: Struct, type_name: str) -> Struct:
        for d in owner.deps:
            if d.kafka_name == type_name:
                return d
        raise SystemExit(f"{owner.name}: unresolved {type_name}")

    def emit_struct(self, st: Struct) -> list[str]:
        lines: list[str] = []
        if st.top is not None:
            t = st.top
            args = [f'name="{t["name"]}"', f'kind="{t["type"]}"']
            if "apiKey" in t:
                args.append(f"api_key={t['apiKey']}")
            args.append(f'valid="{t["validVersions"]}"')
            args.append(f'flexible="{t.get("flexibleVersions", "none")}"')
            lines.append(f"@message({', '.join(args)})")
        lines.append("@frozen")
        lines.append(f"class {st.name}:")
        about = (st.top or {}).get("about") if st.top else None
        lines.append(f'    """{_doc(about or "Kafka struct " + st.kafka_name + ".")}"""')
        lines.append("")
        if not st.fields:
            lines.append("    pass")
        for f in st.fields:
            lines.extend("    " + ln for ln in self.emit_field(st, f))
        return lines

    def emit_field(self, st: Struct, f: Json) -> list[str]:
        name = snake(f["name"])
        ftype: str = f["type"]
        is_array = ftype.startswith("[]")
        elem = ftype[2:] if is_array else ftype
        nullable = f.get("nullableVersions")
        struct_name = None
        if elem in PRIMITIVES:
            py = PRIMITIVES[elem]
        else:
            struct_name = self.struct_for(st, elem).name
            py = struct_name
        if is_array:
            py = f"tuple[{py}, ...]"
        if nullable or elem == "records":
            py = f"{py} | None"
        # A tagged-only field may omit "versions": it exists in its tagged versions.
        args = [repr(ftype), repr(f.get("versions", f.get("taggedVersions")))]
        if nullable:
            args.append(f"nullable={nullable!r}")
        if "tag" in f:
            args.append(f"tag={f['tag']}")
            args.append(f"tagged={f['taggedVersions']!r}")
        if "flexibleVersions" in f:
            args.append(f"flexible={f['flexibleVersions']!r}")
        if f.get("ignorable"):
            args.append("ignorable=True")
        if struct_name:
            args.append(f"struct={struct_name}")
        default = python_default(f, elem, is_array)
        if default is not None:
            args.append(f"default={default}")
        lines = []
        if f.get("about"):
            lines.append(f"#: {_doc(f['about'])}")
        lines.append(f"{name}: {py} = kfield({', '.join(args)})")
        return lines


def _doc(text: str) -> str:
    return " ".join(text.split()).replace('"""', "'''").replace("\\", "\\\\")


def python_default(f: Json, elem: str, is_array: bool) -> str | None:
    """The Python literal for a field's JSON default, or None for the type's zero."""
    if "default" not in f:
        return None
    d = f["default"]
    if isinstance(d, bool):
        d = "true" if d else "false"
    d = str(d)
    if d == "null":
        return "None"
    if is_array:
        return None
    if elem in ("int8", "int16", "uint16", "int32", "uint32", "int64"):
        return str(int(d, 0))
    if elem == "float64":
        return repr(float(d))
    if elem == "bool":
        return "True" if d.strip() == "true" else "False"
    if elem == "string":
        return repr(d)
    return None


def message_paths(schemas: Path) -> list[Path]:
    """
    The message schemas to generate, sorted by file name.

    Those of the APIs in L{NEWER} come from their release's folder beside
    C{schemas}; a missing folder is an error (the output would differ).
    """
    paths = {}
    for path in sorted((schemas / "message").glob("*.json")):
        mod = module_name(path.stem)
        if mod in NEWER:
            path = schemas.parent / NEWER[mod][0] / "message" / path.name
            if not path.is_file():
                raise SystemExit(f"missing {path}: the {mod} schemas come from there")
        paths[path.name] = path
    return [paths[n] for n in sorted(paths)]


def main(argv: list[str]) -> int:
    schemas = Path(argv[1]) if len(argv) > 1 else DEFAULT_SCHEMAS
    out_dir = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    modules: dict[str, Module] = {}
    paths = message_paths(schemas)
    for path in paths:
        schema = load_json(path)
        if schema["type"] == "header":
            continue  # kafkatwist.wire.header holds the header rules
        mod = module_name(schema["name"])
        version = NEWER[mod][1] if mod in NEWER else BASE_VERSION
        modules.setdefault(mod, Module(mod, [], version))
        modules[mod].sources.append(f"clients/src/main/resources/common/message/{path.name}")
    # Add requests before responses so request structs keep the plain names' precedence,
    # then the "data" schemas (LeaderChangeMessage, VotersRecord, ConsumerProtocol*...),
    # which have a module of their own each.
    requests = [p for p in paths if p.name.endswith("Request.json")]
    responses = [p for p in paths if p.name.endswith("Response.json")]
    others = [p for p in paths if p not in requests and p not in responses]
    for path in requests + responses + others:
        schema = load_json(path)
        if schema["type"] == "header":
            continue
        modules[module_name(schema["name"])].add_schema(schema)
    for folder, mod in RECORD_FOLDERS.items():
        paths = sorted((schemas / folder).glob("*.json"))
        if not paths:
            continue
        m = modules[mod] = Module(mod, [f"{folder}/{p.name}" for p in paths])
        for p in paths:
            m.add_schema(load_json(p))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, m in sorted(modules.items()):
        (out_dir / f"{name}.py").write_text(m.emit())
    index = [
        '"""The generated Kafka models: one module per API, one per record folder."""',
        "",
        "# Generated by tools/generate_messages.py. Do not edit by hand: re-run the generator.",
        "",
        "MODULES = (",
        *(f'    "{n}",' for n in sorted(modules)),
        ")",
        "",
    ]
    (out_dir / "__init__.py").write_text("\n".join(index))
    print(f"wrote {len(modules)} modules to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
