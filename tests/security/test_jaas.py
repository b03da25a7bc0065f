"""JAAS config text, after Kafka's JaasContextTest, and the per-listener SASL configs."""

from __future__ import annotations

import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.config.java_properties import parse_properties
from kafkatwist.config.properties import BrokerConfig
from kafkatwist.security.jaas import JaasEntry, parse_jaas_config, single_entry
from kafkatwist.security.sasl_config import SaslConfigError, sasl_listener_config

PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"


class JaasConfigTests(SynchronousTestCase):
    """Kafka's JaasContextTest cases for C{sasl.jaas.config}."""

    def test_no_options(self) -> None:
        """A module and flag alone."""
        self.assertEqual(
            parse_jaas_config("test.testConfigNoOptions required;"),
            [JaasEntry("test.testConfigNoOptions", "required", {})],
        )

    def test_control_flags(self) -> None:
        """The four control flags."""
        for flag in ("required", "requisite", "sufficient", "optional"):
            [entry] = parse_jaas_config(f"test.testControlFlag {flag} propName=propValue;")
            self.assertEqual((entry.control_flag, entry.options), (flag, {"propName": "propValue"}))

    def test_multiple_options(self) -> None:
        """Ten options."""
        text = " ".join(f"propName{i}=propValue{i}" for i in range(10))
        [entry] = parse_jaas_config(f"test.testMultipleOptions sufficient {text};")
        self.assertEqual(entry.options, {f"propName{i}": f"propValue{i}" for i in range(10)})

    def test_quoted_values_and_names(self) -> None:
        """Quoted values keep spaces, C{=} and commas; a quoted name too; escapes apply."""
        [entry] = parse_jaas_config(
            'test.q required propName="prop value" propName2="value1 = 1, value2 = 2" '
            '"prop name"=propValue single=\'x y\' esc="a\\"b\\\\c\\n";'
        )
        self.assertEqual(
            entry.options,
            {
                "propName": "prop value",
                "propName2": "value1 = 1, value2 = 2",
                "prop name": "propValue",
                "single": "x y",
                "esc": 'a"b\\c\n',
            },
        )

    def test_multiple_login_modules(self) -> None:
        """Three entries parse in order; a broker's sasl.jaas.config must hold exactly one."""
        text = " ".join(
            f'test.Module{i} required index="Index{i}" module="Module{i}";' for i in range(3)
        )
        entries = parse_jaas_config(text)
        self.assertEqual([e.login_module for e in entries], [f"test.Module{i}" for i in range(3)])
        self.assertEqual(entries[2].options, {"index": "Index2", "module": "Module2"})
        error = self.assertRaises(ValueError, single_entry, text)
        self.assertEqual(
            str(error), "JAAS config property contains 3 login modules, should be 1 module"
        )

    def test_comments(self) -> None:
        """C{//} and C{/* */} comments are skipped."""
        [entry] = parse_jaas_config('// users\nm.M required /* alice */ user_alice="a";')
        self.assertEqual(entry.options, {"user_alice": "a"})

    def test_invalid(self) -> None:
        """Kafka's invalid configurations: each is refused."""
        for text in (
            "  required option1=value1;",
            "test.loginModule option1=value1;",
            "loginModule required option1;",
            "test.testMissingSemicolon required option1=value1",
            "test.testNumericOptionWithoutQuotes required option1=3;",
            "test.testInvalidControlFlag { option1=3;",
            "",
        ):
            self.assertRaises(ValueError, parse_jaas_config, text)

    def test_messages(self) -> None:
        """Kafka's messages for a missing semicolon and a missing value."""
        error = self.assertRaises(ValueError, parse_jaas_config, "m.M required a=b")
        self.assertEqual(str(error), "JAAS config entry not terminated by semi-colon")
        error = self.assertRaises(ValueError, parse_jaas_config, "m.M required a;")
        self.assertEqual(str(error), "Value not specified for key 'a' in JAAS config")


def jaas(**users: str) -> str:
    options = " ".join(f'user_{u}="{p}"' for u, p in users.items())
    return f"{PLAIN_MODULE} required {options};"


class SaslListenerConfigTests(SynchronousTestCase):
    """Which mechanisms, users and session lifetimes a SASL listener gets."""

    def test_default_gssapi_refused(self) -> None:
        """Kafka's default mechanism, GSSAPI, cannot be served: the listener is refused."""
        error = self.assertRaises(SaslConfigError, sasl_listener_config, {}, "SASL_PLAINTEXT")
        self.assertIn("enables SASL mechanisms GSSAPI", str(error))
        props = {"sasl.enabled.mechanisms": "GSSAPI,OAUTHBEARER"}
        self.assertRaises(SaslConfigError, sasl_listener_config, props, "SASL_PLAINTEXT")

    def test_listener_prefix_wins(self) -> None:
        """
        C{listener.name.<listener>.} keys win over the plain ones; unserved mechanisms are left out.
        """
        props = {
            "sasl.enabled.mechanisms": "GSSAPI",
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "GSSAPI, SCRAM-SHA-512,PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas(alice="a"),
            "sasl.jaas.config": jaas(bob="b"),
            "connections.max.reauth.ms": "5000",
            "listener.name.sasl_plaintext.scram-sha-512.connections.max.reauth.ms": "700",
            "listener.name.sasl_plaintext.connection.failed.authentication.delay.ms": "0",
        }
        config = sasl_listener_config(props, "SASL_PLAINTEXT")
        self.assertEqual(config.mechanisms, ("SCRAM-SHA-512", "PLAIN"))
        self.assertEqual(config.ignored, ("GSSAPI",))
        self.assertEqual(config.reauth_ms, {"SCRAM-SHA-512": 700, "PLAIN": 5000})
        self.assertEqual(config.failure_delay_ms, 0)
        assert config.plain is not None
        self.assertTrue(config.plain("alice", "a"))
        self.assertFalse(config.plain("bob", "b"))

    def test_plain_falls_back_to_sasl_jaas_config(self) -> None:
        """Without the listener's key, C{sasl.jaas.config} holds PLAIN's users."""
        props = {"sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": jaas(bob="b")}
        config = sasl_listener_config(props, "SASL_PLAINTEXT")
        assert config.plain is not None
        self.assertTrue(config.plain("bob", "b"))
        self.assertEqual((config.failure_delay_ms, config.reauth_ms), (100, {"PLAIN": 0}))

    def test_plain_needs_users(self) -> None:
        """PLAIN without a JAAS config or callback, or with another login module, is refused."""
        props = {"sasl.enabled.mechanisms": "PLAIN"}
        self.assertRaises(SaslConfigError, sasl_listener_config, props, "SASL_PLAINTEXT")
        props["sasl.jaas.config"] = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        )
        self.assertRaises(SaslConfigError, sasl_listener_config, props, "SASL_PLAINTEXT")
        props["sasl.jaas.config"] = f"{PLAIN_MODULE} required user_a=1;"
        self.assertRaises(SaslConfigError, sasl_listener_config, props, "SASL_PLAINTEXT")

    def test_callback(self) -> None:
        """A PLAIN callback handler named per listener replaces the JAAS users."""
        props = {
            "sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.server.callback.handler.class": (
                "tests.security.plain_callbacks:only_carol"
            ),
        }
        config = sasl_listener_config(props, "SASL_PLAINTEXT")
        assert config.plain is not None
        self.assertTrue(config.plain("carol", "carol-pw"))
        props["listener.name.sasl_plaintext.plain.sasl.server.callback.handler.class"] = "x:y"
        self.assertRaises(SaslConfigError, sasl_listener_config, props, "SASL_PLAINTEXT")


class ReadmeSaslConfigTests(SynchronousTestCase):
    """README's SASL server.properties works as pasted."""

    def test_readme_properties(self) -> None:
        """The block parses as Java properties and gives the listener its mechanisms and users."""
        text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
        section = text[text.index("## SASL") :]
        block = re.search(r"```properties\n(.*?)```", section, re.S)
        assert block is not None
        props = parse_properties(block.group(1))
        config = BrokerConfig.from_properties(props)
        self.assertEqual(config.security_protocol("SASL_PLAINTEXT"), "SASL_PLAINTEXT")
        sasl = sasl_listener_config(config.properties, "SASL_PLAINTEXT")
        self.assertEqual(sasl.mechanisms, ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"))
        assert sasl.plain is not None
        self.assertTrue(sasl.plain("alice", "alice-secret"))
        self.assertFalse(sasl.plain("alice", "admin-secret"))
        self.assertEqual(sasl.reauth_ms["SCRAM-SHA-512"], 3600000)


class UsedKeysTests(SynchronousTestCase):
    """The SASL keys are read, so start-up does not list them as ignored."""

    def test_sasl_keys_are_used(self) -> None:
        """
        Listener- and mechanism-prefixed SASL keys are not unused; other listener keys still are.
        """
        config = BrokerConfig.from_properties(
            {
                "listeners": "SASL_PLAINTEXT://:9092",
                "sasl.enabled.mechanisms": "PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas(a="b"),
                "listener.name.sasl_plaintext.scram-sha-256.connections.max.reauth.ms": "5",
                "listener.name.sasl_plaintext.sasl.server.max.receive.size": "1000",
                "connections.max.reauth.ms": "4",
                "listener.name.sasl_plaintext.ssl.keystore.type": "PEM",
            }
        )
        self.assertEqual(config.unused_keys, ("listener.name.sasl_plaintext.ssl.keystore.type",))
