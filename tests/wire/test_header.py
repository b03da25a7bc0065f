"""Tests for L{kafkatwist.wire.header}: header versions and their codecs."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.errors import ProtocolViolation
from kafkatwist.wire.header import (
    RequestHeader,
    decode_request_header,
    decode_response_header,
    encode_request_header,
    encode_response_header,
    peek_key_and_version,
    request_header_version,
    response_header_version,
)
from kafkatwist.wire.primitives import Reader, Writer
from tests.support import load_hex, unframe


class HeaderVersionTests(SynchronousTestCase):
    """The header version rules, which live only in L{kafkatwist.wire.header}."""

    def test_request_header_version(self) -> None:
        """Requests use header v2 when flexible, else v1."""
        self.assertEqual(request_header_version(1, 16, True), 2)
        self.assertEqual(request_header_version(1, 11, False), 1)
        self.assertEqual(request_header_version(18, 3, True), 2)
        self.assertEqual(request_header_version(18, 0, False), 1)

    def test_controlled_shutdown_v0(self) -> None:
        """ControlledShutdown v0 alone still uses request header v0."""
        self.assertEqual(request_header_version(7, 0, False), 0)
        self.assertEqual(request_header_version(7, 1, False), 1)

    def test_response_header_version(self) -> None:
        """Responses use header v1 when flexible, else v0."""
        self.assertEqual(response_header_version(1, True), 1)
        self.assertEqual(response_header_version(1, False), 0)
        self.assertEqual(response_header_version(75, True), 1)

    def test_api_versions_response_header_always_v0(self) -> None:
        """The ApiVersions response header is v0 even for flexible versions (KIP-511)."""
        self.assertEqual(response_header_version(18, True), 0)
        self.assertEqual(response_header_version(18, False), 0)


class RequestHeaderTests(SynchronousTestCase):
    """Decoding and encoding request headers."""

    def test_golden_v2(self) -> None:
        """The tester's ApiVersions v4 header decodes with a legacy client_id and no tags."""
        frame = unframe(load_hex("api_versions_v4_request"))[0]
        r = Reader(frame)
        header = decode_request_header(r, 2)
        self.assertEqual(header, RequestHeader(18, 4, 177586623, "kafka-cli"))
        self.assertEqual(r.pos, 4 + 4 + 2 + 9 + 1)
        w = Writer()
        encode_request_header(w, header, 2)
        self.assertEqual(w.getvalue(), frame[: r.pos])

    def test_v1(self) -> None:
        """Header v1 ends after the client_id, with no tagged-field section."""
        data = bytes.fromhex("0001000b000000070003616263ff")
        r = Reader(data)
        self.assertEqual(decode_request_header(r, 1), RequestHeader(1, 11, 7, "abc"))
        self.assertEqual(r.remaining, 1)

    def test_v0(self) -> None:
        """Header v0 has no client_id."""
        data = bytes.fromhex("0007000000000009ffff")
        r = Reader(data)
        self.assertEqual(decode_request_header(r, 0), RequestHeader(7, 0, 9, None))
        self.assertEqual(r.remaining, 2)
        w = Writer()
        encode_request_header(w, RequestHeader(7, 0, 9, "ignored"), 0)
        self.assertEqual(w.getvalue(), data[:8])

    def test_null_client_id(self) -> None:
        """A null client_id (-1) decodes to None and encodes back to -1."""
        data = bytes.fromhex("0012000400000001ffff00")
        header = decode_request_header(Reader(data), 2)
        self.assertIsNone(header.client_id)
        w = Writer()
        encode_request_header(w, header, 2)
        self.assertEqual(w.getvalue(), data)

    def test_client_id_is_legacy_in_v2(self) -> None:
        """In header v2 the client_id keeps its int16 length, not a compact one."""
        w = Writer()
        encode_request_header(w, RequestHeader(1, 16, 1, "ab"), 2)
        self.assertEqual(w.getvalue(), bytes.fromhex("00010010000000010002616200"))

    def test_header_tags_skipped(self) -> None:
        """Tagged fields in header v2 are skipped, leaving the reader at the body."""
        data = bytes.fromhex("00120004000000010000020001aa0500beef")
        r = Reader(data)
        self.assertEqual(decode_request_header(r, 2), RequestHeader(18, 4, 1, ""))
        self.assertEqual(bytes(r.raw(r.remaining)), b"\xbe\xef")

    def test_truncated(self) -> None:
        """A header cut anywhere is a ProtocolViolation."""
        frame = unframe(load_hex("api_versions_v4_request"))[0][:20]
        for end in range(20):
            with self.subTest(end=end):
                self.assertRaises(ProtocolViolation, decode_request_header, Reader(frame[:end]), 2)

    def test_bad_client_id(self) -> None:
        """A client_id that is not UTF-8 is decoded leniently, malformed bytes as U+FFFD (Kafka)."""
        data = bytes.fromhex("00120004000000010002ff6100")
        r = Reader(data)
        header = decode_request_header(r, 2)
        self.assertEqual(header.client_id, "\ufffda")
        self.assertEqual(r.remaining, 0)


class PeekTests(SynchronousTestCase):
    """L{peek_key_and_version} reads the first four bytes of any header."""

    def test_peek(self) -> None:
        """The api key and version are the first two int16s."""
        frame = unframe(load_hex("starter_readme_requests"))[0]
        self.assertEqual(peek_key_and_version(frame), (18, 0x674A))

    def test_short(self) -> None:
        """Fewer than four bytes is a ProtocolViolation."""
        for data in (b"", b"\x00", b"\x00\x12\x00"):
            self.assertRaises(ProtocolViolation, peek_key_and_version, data)


class ResponseHeaderTests(SynchronousTestCase):
    """Decoding and encoding response headers."""

    def test_v0(self) -> None:
        """Response header v0 is the correlation id alone."""
        w = Writer()
        encode_response_header(w, 177586623, 0)
        self.assertEqual(w.getvalue(), bytes.fromhex("0a95c1bf"))
        self.assertEqual(decode_response_header(Reader(w.getvalue()), 0), 177586623)

    def test_v1(self) -> None:
        """Response header v1 adds an empty tagged-field section."""
        w = Writer()
        encode_response_header(w, 1893237013, 1)
        frame = unframe(load_hex("fetch_v16_response"))[0]
        self.assertEqual(w.getvalue(), frame[:5])
        r = Reader(frame)
        self.assertEqual(decode_response_header(r, 1), 1893237013)
        self.assertEqual(r.pos, 5)

    def test_v1_tags_skipped(self) -> None:
        """Tagged fields in response header v1 are skipped."""
        r = Reader(bytes.fromhex("00000001010302abcdee"))
        self.assertEqual(decode_response_header(r, 1), 1)
        self.assertEqual(r.remaining, 1)
