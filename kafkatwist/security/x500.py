"""A certificate's distinguished name as Java's C{X500Principal.getName()} prints it (RFC 2253).

Kafka maps the client certificate's subject through C{ssl.principal.mapping.rules}
(L{kafkatwist.security.ssl_principal}) starting from
C{X500Principal.getName()}, so the rules users write match that exact text:
the relative distinguished names last to first, joined by C{,} (multi-valued
ones by C{+}); the RFC 2253 keywords (C{CN}, C{C}, C{L}, C{ST}, C{O}, C{OU},
C{STREET}, C{DC}, C{UID}) and the dotted OID for any other attribute, whose
value is then C{#} and the hex of its DER encoding (C{emailAddress} prints as
C{1.2.840.113549.1.9.1=#16...}); in string values C{,=+<>#;"\\} are escaped
with a backslash, and so are leading and trailing spaces (the JDK's
C{sun.security.x509.AVA.toRFC2253String}). Sans-io: it reads the DER of the
subject C{Name}.
"""

from __future__ import annotations

#: RFC 2253's keywords by OID (the JDK's C{AVAKeyword} entries marked RFC 2253 compliant).
_KEYWORDS = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}

#: The DER string types printed as text (the JDK's C{AVA.isDerString}, non-canonical), by tag.
_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # T61String
    0x16: "latin-1",  # IA5String
    0x1B: "latin-1",  # GeneralString
    0x1E: "utf-16-be",  # BMPString
}

_ESCAPED = ',=+<>#;"\\'


class DerError(ValueError):
    """The bytes are not the DER encoding of a distinguished name."""


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """The tag, the content's start and its end of the DER element at C{offset}."""
    if offset + 2 > len(data):
        raise DerError("truncated element")
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise DerError("truncated element")
    return tag, start, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """The elements between C{start} and C{end}: (tag, element start, content start, end)."""
    out = []
    offset = start
    while offset < end:
        tag, content, stop = _tlv(data, offset)
        out.append((tag, offset, content, stop))
        offset = stop
    return out


def _oid(content: bytes) -> str:
    """The dotted form of an OBJECT IDENTIFIER's content."""
    if not content:
        raise DerError("empty OID")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(arc) for arc in head + arcs[1:])


def _escape(text: str) -> str:
    """The JDK's RFC 2253 escaping of a string value."""
    body = "".join("\\" + c if c in _ESCAPED else "\\00" if c == "\x00" else c for c in text)
    lead = len(body) - len(body.lstrip(" \r"))
    trail = len(body.rstrip(" \r")) - 1
    return "".join("\\" + c if i < lead or i > trail else c for i, c in enumerate(body))


def _ava(data: bytes, start: int, end: int) -> str:
    """One C{AttributeTypeAndValue}, as C{KEYWORD=value}."""
    parts = _children(data, start, end)
    if len(parts) != 2 or parts[0][0] != 0x06:
        raise DerError("bad AttributeTypeAndValue")
    _, _, oid_start, oid_end = parts[0]
    oid = _oid(data[oid_start:oid_end])
    tag, element, content, stop = parts[1]
    keyword = _KEYWORDS.get(oid)
    codec = _STRING_CODECS.get(tag)
    if keyword is None or codec is None:
        return f"{keyword or oid}=#{data[element:stop].hex()}"
    try:
        text = data[content:stop].decode(codec)
    except UnicodeDecodeError as e:
        raise DerError(f"bad string value: {e}") from None
    return f"{keyword}={_escape(text)}"


def rfc2253_name(der: bytes) -> str:
    """
    The RFC 2253 string of a DER-encoded X.500 C{Name}, as C{X500Principal.getName()}.

    @raise DerError: when C{der} is not a C{Name}.
    """
    tag, start, end = _tlv(der, 0)
    if tag != 0x30:
        raise DerError("a Name is a SEQUENCE")
    rdns = []
    for rdn_tag, _, rdn_start, rdn_end in _children(der, start, end):
        if rdn_tag != 0x31:
            raise DerError("a RelativeDistinguishedName is a SET")
        avas = []
        for ava_tag, _, ava_start, ava_end in _children(der, rdn_start, rdn_end):
            if ava_tag != 0x30:
                raise DerError("an AttributeTypeAndValue is a SEQUENCE")
            avas.append(_ava(der, ava_start, ava_end))
        rdns.append("+".join(avas))
    return ",".join(reversed(rdns))
