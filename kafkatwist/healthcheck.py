"""A Kafka-level health probe: C{python -m kafkatwist.healthcheck [PROPERTIES | HOST:PORT]}.

It sends one ApiVersions request to the broker's client listener and exits 0
when the broker answers it without an error, 1 otherwise, with one line on
stdout saying which (a container engine's C{HEALTHCHECK} keeps that line).
The broker listens only once its logs are loaded, so an answer means it is
serving.

Without an argument it reads the properties file that the image's entry
point wrote (C{$KAFKATWIST_PROPERTIES}, else L{kafkatwist.container.PROPERTIES})
and probes the first non-controller listener on the loopback address when
its host is empty or a wildcard. TLS listeners are probed over TLS without
checking the certificate (a listener requiring client certificates fails the
probe); SASL listeners answer ApiVersions before authentication.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import sys
from collections.abc import Sequence

from kafkatwist import __version__
from kafkatwist.config.java_properties import parse_properties
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.config.values import ConfigError
from kafkatwist.container import PROPERTIES
from kafkatwist.errors import ProtocolViolation
from kafkatwist.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafkatwist.wire import schema
from kafkatwist.wire.header import (
    RequestHeader,
    decode_response_header,
    encode_request_header,
    request_header_version,
    response_header_version,
)
from kafkatwist.wire.primitives import Reader, Writer

__all__ = ["HealthError", "Target", "main", "probe", "target_from_properties"]

#: ApiVersions v3: the first flexible version, which every kafkatwist serves.
_VERSION = 3
_CORRELATION_ID = 0x4B54  # "KT"
_PREFIX = struct.Struct(">i")
#: A reply larger than this is not an ApiVersions answer.
_MAX_REPLY = 1 << 20


class HealthError(Exception):
    """The broker did not answer the probe as a healthy broker does."""


#: Where to probe: host, port and whether the listener speaks TLS.
Target = tuple[str, int, bool]


def target_from_properties(text: str) -> Target:
    """
    The client listener that a broker with these properties serves, as a loopback target.

    @raise ConfigError: when the properties do not make a valid broker config.
    """
    config = BrokerConfig.from_properties(parse_properties(text))
    listener = config.serving_listener()
    host = listener.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    tls = config.security_protocol(listener.name) in ("SSL", "SASL_SSL")
    return host, listener.port, tls


def _request() -> bytes:
    writer = Writer()
    header = RequestHeader(18, _VERSION, _CORRELATION_ID, "kafkatwist-healthcheck")
    encode_request_header(writer, header, request_header_version(18, _VERSION, True))
    body = ApiVersionsRequest("kafkatwist-healthcheck", __version__)
    payload = writer.getvalue() + schema.encode_bytes(body, _VERSION)
    return _PREFIX.pack(len(payload)) + payload


def _receive(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise HealthError("the broker closed the connection before answering")
        data += chunk
    return bytes(data)


def probe(target: Target, timeout: float = 5.0) -> ApiVersionsResponse:
    """
    Send ApiVersions to C{target} and return the answer.

    @raise HealthError: when the broker cannot be reached, closes the
        connection, answers something else or answers with an error code.
    """
    host, port, tls = target
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            sock = raw
            if tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(raw, server_hostname=host)
            sock.sendall(_request())
            (size,) = _PREFIX.unpack(_receive(sock, _PREFIX.size))
            if not 0 < size <= _MAX_REPLY:
                raise HealthError(f"the broker answered a frame of {size} bytes")
            reader = Reader(_receive(sock, size))
    except OSError as e:
        raise HealthError(f"{host}:{port}: {e}") from None
    try:
        correlation_id = decode_response_header(reader, response_header_version(18, True))
        response = schema.decode(ApiVersionsResponse, _VERSION, reader)
    except ProtocolViolation as e:
        raise HealthError(f"{host}:{port}: not an ApiVersions answer ({e})") from None
    if correlation_id != _CORRELATION_ID:
        raise HealthError(f"{host}:{port}: answer to correlation id {correlation_id}")
    if response.error_code != 0:
        raise HealthError(f"{host}:{port}: ApiVersions answered error code {response.error_code}")
    return response


def main(args: Sequence[str] | None = None) -> int:
    """Probe the target named by C{args} (see the module docstring); return the exit status."""
    argv = list(sys.argv[1:] if args is None else args)
    where = argv[0] if argv else os.environ.get("KAFKATWIST_PROPERTIES", PROPERTIES)
    try:
        host, colon, port = where.rpartition(":")
        if colon and port.isdigit() and not os.path.exists(where):
            target: Target = (host.strip("[]"), int(port), False)
        else:
            with open(where, encoding="utf-8", errors="replace") as f:
                target = target_from_properties(f.read())
        response = probe(target)
    except (HealthError, ConfigError, OSError) as e:
        print(f"unhealthy: {e}")
        return 1
    print(f"healthy: {target[0]}:{target[1]} answered ApiVersions ({len(response.api_keys)} APIs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
