"""Request and response headers, and the one place their version rules live.

See https://kafka.apache.org/protocol.html#protocol_messages and Kafka's
``RequestHeader.json`` / ``ResponseHeader.json``:

* request header v0: api_key, api_version, correlation_id (only
  ControlledShutdown v0 still uses it);
* v1 adds ``client_id``, which is **always** a legacy nullable string (int16
  length), even in flexible versions (``"flexibleVersions": "none"``); it is
  decoded leniently (malformed UTF-8 becomes U+FFFD), as Kafka does;
* v2 adds the tagged-field section; it is used when the request version is
  flexible;
* response header v0 is the correlation id; v1 adds a tagged-field section
  for flexible versions, **except ApiVersions**, whose response header is
  always v0 so that a client that does not yet know the broker's versions
  can parse it (KIP-511; ``ApiKeys.responseHeaderVersion`` in Kafka).

This module is sans-io: it imports nothing from Twisted.
"""

from __future__ import annotations

from attrs import frozen

from kafkatwist.errors import ProtocolViolation
from kafkatwist.wire.primitives import Buffer, Reader, Writer

API_VERSIONS_KEY = 18
CONTROLLED_SHUTDOWN_KEY = 7


@frozen
class RequestHeader:
    """A decoded request header."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None = None


def request_header_version(api_key: int, api_version: int, flexible: bool) -> int:
    """The request header version for a request of this key and version."""
    if api_key == CONTROLLED_SHUTDOWN_KEY and api_version == 0:
        return 0
    return 2 if flexible else 1


def response_header_version(api_key: int, flexible: bool) -> int:
    """The response header version: v0 always for ApiVersions, else v1 when flexible."""
    if api_key == API_VERSIONS_KEY:
        return 0
    return 1 if flexible else 0


def peek_key_and_version(frame: Buffer) -> tuple[int, int]:
    """The api key and version: the first 4 bytes, the same in every header version."""
    r = Reader(frame)
    return r.int16(), r.int16()


def _client_id(reader: Reader) -> str | None:
    """
    The client id, decoded leniently: bytes that are not UTF-8 become U+FFFD.

    Kafka decodes it with Java's C{new String(bytes, UTF_8)}, which replaces
    malformed input instead of failing, and answers the request.
    """
    n = reader.int16()
    if n < 0:
        return None
    return str(reader.raw(n), "utf-8", "replace")


def decode_request_header(reader: Reader, header_version: int) -> RequestHeader:
    """Decode a request header of the given version, leaving C{reader} at the body."""
    api_key = reader.int16()
    api_version = reader.int16()
    correlation_id = reader.int32()
    client_id = None
    if header_version >= 1:
        client_id = _client_id(reader)
    if header_version >= 2:
        for _ in range(reader.uvarint()):
            reader.uvarint()
            reader.skip(reader.uvarint())
    return RequestHeader(api_key, api_version, correlation_id, client_id)


def encode_request_header(writer: Writer, header: RequestHeader, header_version: int) -> None:
    """Encode a request header (used by tests and the built-in client helpers)."""
    writer.int16(header.api_key)
    writer.int16(header.api_version)
    writer.int32(header.correlation_id)
    if header_version >= 1:
        writer.nullable_string(header.client_id)
    if header_version >= 2:
        writer.uvarint(0)


def encode_response_header(writer: Writer, correlation_id: int, header_version: int) -> None:
    """Encode a response header: the correlation id, then tags for v1."""
    writer.int32(correlation_id)
    if header_version >= 1:
        writer.uvarint(0)


def decode_response_header(reader: Reader, header_version: int) -> int:
    """Decode a response header, returning the correlation id."""
    correlation_id = reader.int32()
    if header_version >= 1:
        for _ in range(reader.uvarint()):
            reader.uvarint()
            reader.skip(reader.uvarint())
    return correlation_id


__all__ = [
    "ProtocolViolation",
    "RequestHeader",
    "decode_request_header",
    "decode_response_header",
    "encode_request_header",
    "encode_response_header",
    "peek_key_and_version",
    "request_header_version",
    "response_header_version",
]
