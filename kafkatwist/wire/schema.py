"""Schema-driven codecs for the attrs models generated from Kafka's JSON.

Each model field carries its Kafka type and version ranges in attrs metadata
(L{kfield}); message classes carry their API key and valid and flexible
versions (L{message}). L{compile} turns one (class, version) pair into a pair
of plain Python functions, generated as source and compiled once, so that
encoding and decoding never interpret the schema per field per call. This
follows the rules in Kafka's ``clients/src/main/resources/common/message/README.md``:

* flexible versions use compact strings, bytes and arrays and end every
  struct with a tagged-field section; unknown tags are skipped on read;
* tagged fields are written only when they differ from their default;
* a nullable struct is prefixed by an int8: -1 for null, 1 for present;
* a field that is absent at a version decodes to its default; encoding a
  non-default value into a version that lacks a non-ignorable field raises.

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

import builtins
import struct
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeAlias, TypeVar

import attrs

from kafkatwist.errors import ProtocolViolation
from kafkatwist.wire.primitives import ZERO_UUID, Buffer, Reader, Writer
from kafkatwist.wire.versions import NONE, VersionRange

T = TypeVar("T")

#: A records field: one buffer, or a sequence of buffers written without copying.
Records: TypeAlias = Buffer | Sequence[Buffer]

_PRIMITIVES = {
    "int8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "float64",
    "bool",
    "uuid",
}
_VARIABLE = {"string", "bytes", "records"}


@attrs.frozen
class FieldSpec:
    """How one model field appears on the wire."""

    name: str
    type: str
    versions: VersionRange
    nullable: VersionRange = NONE
    tag: int | None = None
    tagged: VersionRange = NONE
    flexible: VersionRange | None = None
    ignorable: bool = False
    struct: builtins.type | None = None

    @property
    def element_type(self) -> str:
        """The element type of an array field, else the field type."""
        return self.type[2:] if self.type.startswith("[]") else self.type


@attrs.frozen
class MessageInfo:
    """A top-level schema: a request, response, or a record format."""

    name: str
    kind: str
    api_key: int | None
    valid: VersionRange
    flexible: VersionRange


_FIELD_KEY = "kafka"


def kfield(
    kafka_type: str,
    versions: str,
    *,
    nullable: str | None = None,
    tag: int | None = None,
    tagged: str | None = None,
    flexible: str | None = None,
    ignorable: bool = False,
    struct: type | None = None,
    default: Any = attrs.NOTHING,
) -> Any:
    """
    Declare a model field with its Kafka type and version ranges.

    Version strings use Kafka's grammar unchanged (L{VersionRange.parse}).
    Without an explicit default, the type's zero value is used.
    """
    spec = FieldSpec(
        name="",
        type=kafka_type,
        versions=VersionRange.parse(versions),
        nullable=VersionRange.parse(nullable) if nullable else NONE,
        tag=tag,
        tagged=VersionRange.parse(tagged) if tagged else NONE,
        flexible=VersionRange.parse(flexible) if flexible else None,
        ignorable=ignorable,
        struct=struct,
    )
    if default is attrs.NOTHING:
        default = _zero(kafka_type, struct)
    return attrs.field(default=default, metadata={_FIELD_KEY: spec})


#: attrs' Factory class (C{attrs.Factory} is typed as a function).
_FACTORY: Final[type[Any]] = type(attrs.Factory(tuple))


def _default(a: attrs.Attribute[Any]) -> Any:
    """The value field C{a} takes when it is not given (calling its factory, if any)."""
    default = a.default
    if isinstance(default, _FACTORY):
        return default.factory()
    return default


def _zero(kafka_type: str, struct: type | None) -> Any:
    if kafka_type.startswith("[]"):
        return ()
    if kafka_type in ("string",):
        return ""
    if kafka_type == "bytes":
        return b""
    if kafka_type == "records":
        return None
    if kafka_type == "bool":
        return False
    if kafka_type == "uuid":
        return ZERO_UUID
    if kafka_type == "float64":
        return 0.0
    if kafka_type in _PRIMITIVES:
        return 0
    if struct is not None:
        return attrs.Factory(struct)
    raise TypeError(f"unknown Kafka type {kafka_type!r}")


def message(
    *, name: str, kind: str, valid: str, flexible: str, api_key: int | None = None
) -> Callable[[type[T]], type[T]]:
    """Class decorator marking a top-level schema (request, response, record)."""
    info = MessageInfo(
        name=name,
        kind=kind,
        api_key=api_key,
        valid=VersionRange.parse(valid),
        flexible=VersionRange.parse(flexible),
    )

    def decorate(cls: type[T]) -> type[T]:
        cls.__kafka__ = info  # type: ignore[attr-defined]
        return cls

    return decorate


def message_info(cls: type) -> MessageInfo:
    """The L{MessageInfo} of a class decorated with L{message}."""
    info: MessageInfo | None = getattr(cls, "__kafka__", None)
    if info is None:
        raise TypeError(f"{cls.__name__} is not a top-level Kafka schema")
    return info


def field_specs(cls: type) -> tuple[tuple[attrs.Attribute[Any], FieldSpec], ...]:
    """The fields of a model, in wire order, with their specs."""
    cached = _SPECS.get(cls)
    if cached is None:
        out = []
        for a in attrs.fields(cls):
            spec = a.metadata.get(_FIELD_KEY)
            if spec is not None:
                out.append((a, attrs.evolve(spec, name=a.name)))
        cached = _SPECS[cls] = tuple(out)
    return cached


_SPECS: dict[type, tuple[tuple[attrs.Attribute[Any], FieldSpec], ...]] = {}

Decoder = Callable[[Reader], Any]
Encoder = Callable[[Writer, Any], None]

_CODECS: dict[tuple[type, int, bool], tuple[Decoder, Encoder]] = {}


def compile(cls: type, version: int, flexible: bool | None = None) -> tuple[Decoder, Encoder]:
    """
    The decoder and encoder of C{cls} at C{version}, built once and cached.

    C{flexible} is implied for top-level schemas; nested structs inherit it.
    """
    if flexible is None:
        info = message_info(cls)
        if version not in info.valid:
            raise ValueError(f"{info.name} has no version {version}")
        flexible = version in info.flexible
    key = (cls, version, flexible)
    codec = _CODECS.get(key)
    if codec is None:
        codec = _CODECS[key] = _Compiler(cls, version, flexible).build()
    return codec


def decode(cls: type[T], version: int, data: Buffer | Reader) -> T:
    """Decode one C{cls} at C{version}; any malformation is a L{ProtocolViolation}."""
    reader = data if isinstance(data, Reader) else Reader(data)
    decoder, _ = compile(cls, version)
    try:
        return decoder(reader)  # type: ignore[no-any-return]
    except (struct.error, IndexError, ValueError, TypeError, OverflowError) as e:
        raise ProtocolViolation(f"malformed {cls.__name__} v{version}: {e}") from None


def encode(obj: Any, version: int, writer: Writer | None = None) -> Writer:
    """Encode a top-level model at C{version} into C{writer} (or a new one)."""
    w = Writer() if writer is None else writer
    compile(type(obj), version)[1](w, obj)
    return w


def encode_bytes(obj: Any, version: int) -> bytes:
    """Encode a top-level model at C{version} into one C{bytes}."""
    return encode(obj, version).getvalue()


class _Compiler:
    """Generates the Python source of one (class, version, flexible) codec."""

    def __init__(self, cls: type, version: int, flexible: bool) -> None:
        self.cls = cls
        self.version = version
        self.flexible = flexible
        self.ns: dict[str, Any] = {
            "_cls": cls,
            "_PV": ProtocolViolation,
            "_Writer": Writer,
            "_uuid": uuid,
        }
        self._counter = 0

    def _name(self, prefix: str, value: Any) -> str:
        self._counter += 1
        name = f"_{prefix}{self._counter}"
        self.ns[name] = value
        return name

    def _is_flexible(self, spec: FieldSpec) -> bool:
        if spec.flexible is not None:
            return self.version in spec.flexible
        return self.flexible

    # -- decoding ---------------------------------------------------------

    def _read_expr(self, spec: FieldSpec, elem_type: str, nullable: bool, flex: bool) -> str:
        """An expression reading one value of C{elem_type} from C{r}."""
        if elem_type in _PRIMITIVES:
            return f"r.{elem_type}()"
        if elem_type in _VARIABLE:
            if elem_type == "records":
                return "r.compact_records()" if flex else "r.records()"
            prefix = "compact_" if flex else ""
            null = "nullable_" if nullable else ""
            return f"r.{prefix}{null}{elem_type}()"
        if spec.struct is None:
            raise TypeError(f"{self.cls.__name__}.{spec.name}: no struct class for {elem_type}")
        dec, _ = compile(spec.struct, self.version, self.flexible)
        fn = self._name("d", dec)
        return f"{fn}(r)"

    def _read_field(self, spec: FieldSpec, lines: list[str], target: str, indent: str) -> None:
        flex = self._is_flexible(spec)
        nullable = self.version in spec.nullable
        if spec.type.startswith("[]"):
            elem = spec.element_type
            length = "r.compact_array_length()" if flex else "r.array_length()"
            item = self._read_expr(spec, elem, False, flex)
            lines.append(f"{indent}n = {length}")
            if nullable:
                lines.append(
                    f"{indent}{target} = None if n < 0 else tuple([{item} for _ in range(n)])"
                )
            else:
                lines.append(f"{indent}if n < 0:")
                lines.append(f"{indent}    raise _PV('null in non-nullable array {spec.name}')")
                lines.append(f"{indent}{target} = tuple([{item} for _ in range(n)])")
            return
        if spec.type not in _PRIMITIVES and spec.type not in _VARIABLE:
            item = self._read_expr(spec, spec.type, False, flex)
            if nullable:
                lines.append(f"{indent}{target} = None if r.int8() < 0 else {item}")
            else:
                lines.append(f"{indent}{target} = {item}")
            return
        lines.append(f"{indent}{target} = {self._read_expr(spec, spec.type, nullable, flex)}")

    # -- encoding ---------------------------------------------------------

    def _write_stmt(
        self, spec: FieldSpec, elem_type: str, value: str, nullable: bool, flex: bool
    ) -> str:
        if elem_type in _PRIMITIVES:
            return f"w.{elem_type}({value})"
        if elem_type in _VARIABLE:
            if elem_type == "records":
                return f"w.compact_records({value})" if flex else f"w.records({value})"
            prefix = "compact_" if flex else ""
            null = "nullable_" if nullable else ""
            return f"w.{prefix}{null}{elem_type}({value})"
        assert spec.struct is not None
        _, enc = compile(spec.struct, self.version, self.flexible)
        fn = self._name("e", enc)
        return f"{fn}(w, {value})"

    def _write_field(self, spec: FieldSpec, lines: list[str], value: str, indent: str) -> None:
        flex = self._is_flexible(spec)
        nullable = self.version in spec.nullable
        if spec.type.startswith("[]"):
            length = "w.compact_array_length" if flex else "w.array_length"
            item = self._write_stmt(spec, spec.element_type, "x", False, flex)
            if nullable:
                lines.append(f"{indent}if {value} is None:")
                lines.append(f"{indent}    {length}(-1)")
                lines.append(f"{indent}else:")
                indent += "    "
            lines.append(f"{indent}{length}(len({value}))")
            lines.append(f"{indent}for x in {value}:")
            lines.append(f"{indent}    {item}")
            return
        if spec.type not in _PRIMITIVES and spec.type not in _VARIABLE:
            stmt = self._write_stmt(spec, spec.type, value, False, flex)
            if nullable:
                lines.append(f"{indent}if {value} is None:")
                lines.append(f"{indent}    w.int8(-1)")
                lines.append(f"{indent}else:")
                lines.append(f"{indent}    w.int8(1)")
                lines.append(f"{indent}    {stmt}")
            else:
                lines.append(f"{indent}{stmt}")
            return
        lines.append(f"{indent}{self._write_stmt(spec, spec.type, value, nullable, flex)}")

    # -- assembly ---------------------------------------------------------

    def build(self) -> tuple[Decoder, Encoder]:
        v = self.version
        regular: list[tuple[attrs.Attribute[Any], FieldSpec]] = []
        tagged: list[tuple[attrs.Attribute[Any], FieldSpec]] = []
        absent: list[tuple[attrs.Attribute[Any], FieldSpec]] = []
        for a, spec in field_specs(self.cls):
            if self.flexible and v in spec.tagged:
                tagged.append((a, spec))
            elif v in spec.versions:
                regular.append((a, spec))
            else:
                absent.append((a, spec))
        tagged.sort(key=lambda item: item[1].tag)  # type: ignore[arg-type,return-value]

        dec = ["def decode(r):"]
        kwargs = []
        for i, (a, spec) in enumerate(regular):
            self._read_field(spec, dec, f"f{i}", "    ")
            kwargs.append(f"{a.alias}=f{i}")
        if self.flexible:
            for j, (a, _spec) in enumerate(tagged):
                dec.append(f"    t{j} = {self._name('dflt', _default(a))}")
                kwargs.append(f"{a.alias}=t{j}")
            dec.append("    for _ in range(r.uvarint()):")
            dec.append("        tag = r.uvarint()")
            dec.append("        size = r.uvarint()")
            dec.append("        end = r.pos + size")
            first = True
            for j, (_a, spec) in enumerate(tagged):
                kw = "if" if first else "elif"
                first = False
                dec.append(f"        {kw} tag == {spec.tag}:")
                self._read_field(spec, dec, f"t{j}", "            ")
                dec.append("            if r.pos != end:")
                dec.append(
                    f"                raise _PV('tagged field {spec.tag} has the wrong size')"
                )
            if tagged:
                dec.append("        else:")
                dec.append("            r.skip(size)")
            else:
                dec.append("        r.skip(size)")
        dec.append(f"    return _cls({', '.join(kwargs)})")

        enc = ["def encode(w, o):"]
        for a, spec in regular:
            self._write_field(spec, enc, f"o.{a.name}", "    ")
        for a, spec in absent:
            if spec.ignorable:
                continue
            dflt = self._name("dflt", _default(a))
            enc.append(f"    if o.{a.name} != {dflt}:")
            enc.append(
                f"        raise ValueError('{self.cls.__name__}.{a.name} "
                f"cannot be written at version {v}')"
            )
        if self.flexible:
            if not tagged:
                enc.append("    w.uvarint(0)")
            else:
                enc.append("    tags = []")
                for a, spec in tagged:
                    dflt = self._name("dflt", _default(a))
                    enc.append(f"    if o.{a.name} != {dflt}:")
                    enc.append("        w0, w = w, _Writer()")
                    self._write_field(spec, enc, f"o.{a.name}", "        ")
                    enc.append(f"        tags.append(({spec.tag}, w.getvalue()))")
                    enc.append("        w = w0")
                enc.append("    w.uvarint(len(tags))")
                enc.append("    for tag, data in tags:")
                enc.append("        w.uvarint(tag)")
                enc.append("        w.uvarint(len(data))")
                enc.append("        w.write(data)")
        if len(enc) == 1:
            enc.append("    pass")

        source = "\n".join(dec) + "\n\n" + "\n".join(enc) + "\n"
        filename = (
            f"<kafkatwist codec {self.cls.__qualname__} v{v}{' flexible' if self.flexible else ''}>"
        )
        code = builtins.compile(source, filename, "exec")
        exec(code, self.ns)
        decode_fn = self.ns["decode"]
        encode_fn = self.ns["encode"]
        decode_fn.__source__ = source
        return decode_fn, encode_fn
