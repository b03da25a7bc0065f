"""DescribeConfigs shows the ssl.* keys as Kafka does: passwords and PEM keys null and sensitive."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.properties import BrokerConfig
from tests.apis.test_describe_configs import BROKER, by_name, describe, synonyms
from tests.brokers import make_broker

#: Kafka's ConfigSource STATIC_BROKER_CONFIG and DEFAULT_CONFIG; ConfigType STRING and PASSWORD.
STATIC, DEFAULT = 4, 5
STRING, PASSWORD = 2, 9


class SslDescribeConfigsTests(SynchronousTestCase):
    """The ssl.* rows of the broker config table."""

    def test_passwords_are_sensitive(self) -> None:
        """A password set in server.properties is answered as null, sensitive, of type PASSWORD."""
        config = BrokerConfig.from_properties(
            {
                "ssl.keystore.type": "PKCS12",
                "ssl.keystore.password": "s3cr3t",
                "ssl.key.password": "s3cr3t",
                "listener.name.ssl.ssl.truststore.password": "s3cr3t",
            }
        )
        entries = by_name(describe(make_broker(config=config), [(BROKER, "1", None)]).results[0])
        for name in ("ssl.keystore.password", "ssl.key.password"):
            entry = entries[name]
            self.assertEqual(
                (entry.value, entry.is_sensitive, entry.config_type, entry.config_source),
                (None, True, PASSWORD, STATIC),
                name,
            )
            self.assertEqual(synonyms(entry), [(name, None, STATIC)])
        for name in ("ssl.keystore.key", "ssl.keystore.certificate.chain"):
            self.assertTrue(entries[name].is_sensitive, name)
        # A listener's own password is sensitive too.
        listener = entries["listener.name.ssl.ssl.truststore.password"]
        self.assertEqual((listener.value, listener.is_sensitive), (None, True))

    def test_plain_settings_are_shown(self) -> None:
        """Non-secret ssl settings show their values and Kafka's defaults."""
        config = BrokerConfig.from_properties({"ssl.keystore.type": "PKCS12"})
        entries = by_name(describe(make_broker(config=config), [(BROKER, "1", None)]).results[0])
        keystore_type = entries["ssl.keystore.type"]
        self.assertEqual(
            (keystore_type.value, keystore_type.config_source, keystore_type.read_only),
            ("PKCS12", STATIC, False),
        )
        client_auth = entries["ssl.client.auth"]
        self.assertEqual(
            (client_auth.value, client_auth.config_source, client_auth.read_only),
            ("none", DEFAULT, True),
        )
        self.assertEqual(entries["ssl.enabled.protocols"].value, "TLSv1.2,TLSv1.3")

    def test_listener_prefixed_secrets_are_sensitive(self) -> None:
        """A listener's inline PEM key is a PASSWORD like its base key (KafkaConfig.configType)."""
        key = "-----BEGIN PRIVATE KEY-----\nMIIsecret\n-----END PRIVATE KEY-----"
        config = BrokerConfig.from_properties(
            {
                "listener.name.ssl.ssl.keystore.key": key,
                "listener.name.ssl.ssl.keystore.certificate.chain": "chain",
                "listener.name.ssl.ssl.keystore.type": "PEM",
            }
        )
        entries = by_name(describe(make_broker(config=config), [(BROKER, "1", None)]).results[0])
        for name in (
            "listener.name.ssl.ssl.keystore.key",
            "listener.name.ssl.ssl.keystore.certificate.chain",
        ):
            entry = entries[name]
            self.assertEqual(
                (entry.value, entry.is_sensitive, entry.config_type), (None, True, PASSWORD), name
            )
            self.assertNotIn(key, repr(entry))
        keystore_type = entries["listener.name.ssl.ssl.keystore.type"]
        self.assertEqual((keystore_type.value, keystore_type.is_sensitive), ("PEM", False))
