#!/usr/bin/env python3
# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Generate kafkatwist's attrs models from Apache Kafka's JSON message schemas.

Usage: python tools/generate_messages.py [SCHEMA_DIR] [OUT_DIR]

SCHEMA_DIR defaults to ../shared/kafka-schemas beside the checkout and holds
Kafka's ``message/``, ``metadata/``, ``group-coordinator/``,
``transaction-coordinator/`` and ``raft/`` folders (a Kafka 4.0 snapshot).
The records come from there. The messages come from the ``message/`` folder
of Kafka 4.3.0 beside it (``kafka-schemas-4.3``, L{MESSAGES_FROM}), merged
with the 4.0 snapshot's schema of the same name where 4.3 no longer
describes old versions (KIP-896 removed e.g. Fetch v0-3, ListOffsets v0,
OffsetCommit v0-1): see L{merge_older}. Each module's docstring says where
its versions came from. OUT_DIR defaults to ``kafkatwist/messages``.

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
#: The folder beside SCHEMA_DIR that holds the message schemas, and its Kafka version.
MESSAGES_FROM = ("kafka-schemas-4.3", "4.3.0")

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


def parse_versions(text: str) -> tuple[int, int] | None:
    """A schema's version range (C{"3+"}, C{"1-4"}, C{"0"}) as (low, high), None for C{"none"}."""
    if text == "none":
        return None
    if text.endswith("+"):
        return int(text[:-1]), 1 << 15
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def format_versions(span: tuple[int, int]) -> str:
    low, high = span
    if high == 1 << 15:
        return f"{low}+"
    return str(low) if low == high else f"{low}-{high}"


def lower_bound(new: str | None, old: str | None) -> str | None:
    """C{new}'s range reaching down to C{old}'s lower start, its upper end unchanged."""
    if new is None or old is None:
        return new
    n, o = parse_versions(new), parse_versions(old)
    if n is None or o is None or o[0] >= n[0]:
        return new
    return format_versions((o[0], n[1]))


def merge_fields(new: list[Json], old: list[Json]) -> list[Json]:
    """
    C{new}'s fields, each reaching down to the versions its C{old} namesake had.

    A field C{old} has and C{new} dropped (it existed only in removed
    versions, like ListOffsets v0's C{MaxNumOffsets}) is put back after the
    field that preceded it in C{old}.
    """
    old_by_name = {f["name"]: f for f in old}
    merged: list[Json] = []
    for f in new:
        o = old_by_name.get(f["name"])
        if o is None:
            merged.append(f)
            continue
        f = dict(f)
        for key in ("versions", "nullableVersions"):
            if key in f:
                f[key] = lower_bound(f[key], o.get(key))
        if "fields" in f and "fields" in o:
            f["fields"] = merge_fields(f["fields"], o["fields"])
        merged.append(f)
    names = {f["name"] for f in new}
    for index, o in enumerate(old):
        if o["name"] in names:
            continue
        after = old[index - 1]["name"] if index else None
        at = next((k + 1 for k, f in enumerate(merged) if f["name"] == after), 0)
        merged.insert(at, o)
        names.add(o["name"])
    return merged


def merge_older(new: Json, old: Json) -> Json:
    """
    Kafka 4.3's schema C{new} with the versions below its lowest taken from C{old}.

    KIP-896 removed old versions from Kafka 4.x's schemas (Fetch v0-3,
    ListOffsets v0, OffsetCommit v0-1, Produce v0-2...); kafkatwist still
    serves them, so their fields come back from the 4.0 snapshot, which
    predates the removal. Fields, common structs and version ranges are
    matched by name; everything else (tags, flexible versions, defaults, new
    fields) is 4.3's.
    """
    nv, ov = parse_versions(new["validVersions"]), parse_versions(old["validVersions"])
    if nv is None or ov is None or ov[0] >= nv[0]:
        return new
    merged = dict(new)
    merged["validVersions"] = format_versions((ov[0], nv[1]))
    merged["fields"] = merge_fields(new["fields"], old["fields"])
    old_common = {c["name"]: c for c in old.get("commonStructs", [])}
    commons = []
    for c in new.get("commonStructs", []):
        if c["name"] in old_common:
            c = dict(c, fields=merge_fields(c["fields"], old_common[c["name"]]["fields"]))
            c["versions"] = lower_bound(c.get("versions"), old_common[c["name"]].get("versions"))
        commons.append(c)
    if commons:
        merged["commonStructs"] = commons
    return merged


def load_messages(schemas: Path) -> list[tuple[Json, str, str]]:
    """
    The message schemas to generate, sorted by file name: each with its source and Kafka version.

    They come from the 4.3 folder beside C{schemas}, merged with the 4.0
    snapshot's schema of the same name (L{merge_older}); a missing folder is
    an error (the output would differ).
    """
    folder, version = MESSAGES_FROM
    newer = schemas.parent / folder / "message"
    if not newer.is_dir():
        raise SystemExit(f"missing {newer}: the message schemas come from there")
    out = []
    for path in sorted(newer.glob("*.json")):
        schema = load_json(path)
        if schema["validVersions"] == "none":
            continue  # removed APIs (LeaderAndIsr, StopReplica... of ZooKeeper's brokers)
        label = version
        older = schemas / "message" / path.name
        if older.is_file():
            merged = merge_older(schema, load_json(older))
            if merged is not schema:
                label = f"{version}; versions below {schema['validVersions']} from {BASE_VERSION}"
                schema = merged
        out.append((schema, f"clients/src/main/resources/common/message/{path.name}", label))
    return out


def main(argv: list[str]) -> int:
    schemas = Path(argv[1]) if len(argv) > 1 else DEFAULT_SCHEMAS
    out_dir = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    modules: dict[str, Module] = {}
    # kafkatwist.wire.header holds the header rules.
    loaded = [m for m in load_messages(schemas) if m[0]["type"] != "header"]
    for schema, source, version in loaded:
        mod = module_name(schema["name"])
        module = modules.setdefault(mod, Module(mod, [], version))
        if len(version) > len(module.kafka_version):
            module.kafka_version = version  # the request's or the response's older versions
        module.sources.append(source)
    # Add requests before responses so request structs keep the plain names' precedence,
    # then the "data" schemas (LeaderChangeMessage, VotersRecord, ConsumerProtocol*...),
    # which have a module of their own each.
    requests = [m for m in loaded if m[1].endswith("Request.json")]
    responses = [m for m in loaded if m[1].endswith("Response.json")]
    others = [m for m in loaded if m not in requests and m not in responses]
    for schema, _, _ in requests + responses + others:
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
