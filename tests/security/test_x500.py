"""Distinguished names printed as Java's X500Principal.getName() (RFC 2253)."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.security.x500 import DerError, rfc2253_name
from tests.security.certs import name


def der(subject: x509.Name) -> bytes:
    """The DER encoding of a Name."""
    return subject.public_bytes()


class Rfc2253Tests(SynchronousTestCase):
    """rfc2253_name against the JDK's rules and cryptography's RFC 4514 printer."""

    def test_reverse_order(self) -> None:
        """The last RDN comes first, as X500Principal.getName() prints a C, O, OU, CN subject."""
        subject = name(C="US", O="Acme", OU="eng", CN="alice")
        self.assertEqual(rfc2253_name(der(subject)), "CN=alice,OU=eng,O=Acme,C=US")
        # cryptography's independent RFC 4514 printer agrees on plain names.
        self.assertEqual(rfc2253_name(der(subject)), subject.rfc4514_string())

    def test_escaping(self) -> None:
        """Special characters are escaped with a backslash, leading and trailing spaces too."""
        subject = name(CN=' a,b+c="d"<e>;f\\g=h#i ')
        self.assertEqual(
            rfc2253_name(der(subject)), 'CN=\\ a\\,b\\+c\\=\\"d\\"\\<e\\>\\;f\\\\g\\=h\\#i\\ '
        )

    def test_other_attributes_as_hex(self) -> None:
        """An attribute without an RFC 2253 keyword is its dotted OID and #hex of its DER value."""
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "bob"),
                x509.NameAttribute(NameOID.EMAIL_ADDRESS, "b@x.io"),
            ]
        )
        # IA5String (tag 0x16), 6 bytes.
        expected = "1.2.840.113549.1.9.1=#1606" + b"b@x.io".hex() + ",CN=bob"
        self.assertEqual(rfc2253_name(der(subject)), expected)

    def test_multi_valued_rdn(self) -> None:
        """The values of one RDN are joined with +."""
        rdn = x509.RelativeDistinguishedName(
            [
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ops"),
                x509.NameAttribute(NameOID.COMMON_NAME, "carol"),
            ]
        )
        subject = x509.Name(
            [x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]), rdn]
        )
        text = rfc2253_name(der(subject))
        self.assertIn(text, ("CN=carol+OU=ops,C=FR", "OU=ops+CN=carol,C=FR"))

    def test_not_a_name(self) -> None:
        """Bytes that are no Name raise DerError."""
        self.assertRaises(DerError, rfc2253_name, b"\x04\x01a")
        self.assertRaises(DerError, rfc2253_name, b"\x30\x05\x31")
