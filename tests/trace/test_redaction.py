"""Tests that the trace never shows secrets (L{kafkatwist.trace.render}), on kafka-python's bytes.

Requests are built and encoded by kafka-python (a real client's encoder),
decoded by kafkatwist as the broker would, then rendered.
"""

from __future__ import annotations

import json
from typing import Any

from kafka.protocol.admin import (
    AlterConfigsRequest as ClientAlter,
)
from kafka.protocol.admin import (
    AlterUserScramCredentialsRequest as ClientScram,
)
from kafka.protocol.admin import (
    CreateTopicsRequest as ClientCreate,
)
from kafka.protocol.admin import (
    IncrementalAlterConfigsRequest as ClientIncremental,
)
from kafka.protocol.sasl import SaslAuthenticateRequest as ClientSasl
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.messages.alter_configs import AlterConfigsRequest
from kafkatwist.messages.alter_user_scram_credentials import AlterUserScramCredentialsRequest
from kafkatwist.messages.create_topics import CreateTopicsRequest
from kafkatwist.messages.describe_configs import (
    DescribeConfigsResourceResult,
    DescribeConfigsResponse,
    DescribeConfigsResult,
    DescribeConfigsSynonym,
)
from kafkatwist.messages.incremental_alter_configs import IncrementalAlterConfigsRequest
from kafkatwist.messages.sasl_authenticate import SaslAuthenticateRequest, SaslAuthenticateResponse
from kafkatwist.trace.render import HIDDEN, Json, render, sensitive
from kafkatwist.wire import schema

SECRET = "s3cret-Pa55"
TOPIC, BROKER, BROKER_LOGGER = 2, 4, 8


def rendered(client_request: Any, ours: type, version: int) -> dict[str, Json]:
    """kafka-python's request, encoded at C{version}, decoded as C{ours} and rendered."""
    return render(schema.decode(ours, version, client_request.encode(version=version)), version)


def values(body: Any, key: str = "Resources") -> dict[str, Json]:
    """Config name -> rendered value, over every resource (or topic) of C{body}."""
    return {
        config["Name"]: config["Value"] for resource in body[key] for config in resource["Configs"]
    }


def alter(resource_type: int, name: str, *configs: tuple[str, str]) -> Any:
    """A kafka-python AlterConfigs request for one resource."""
    return ClientAlter(
        resources=[
            ClientAlter.AlterConfigsResource(
                resource_type=resource_type,
                resource_name=name,
                configs=[
                    ClientAlter.AlterConfigsResource.AlterableConfig(name=k, value=v)
                    for k, v in configs
                ],
            )
        ],
        validate_only=False,
    )


class ConfigRedactionTests(SynchronousTestCase):
    def test_alter_configs_broker_passwords(self) -> None:
        """A broker's PASSWORD keys (listener overrides too) are hidden; other values are shown."""
        request = alter(
            BROKER,
            "1",
            ("ssl.keystore.password", SECRET),
            ("listener.name.external.ssl.key.password", SECRET),
            ("listener.name.sasl.plain.sasl.jaas.config", SECRET),
            ("delegation.token.secret.key", SECRET),
            ("log.cleaner.threads", "2"),
        )
        for version in (0, 2):
            body = rendered(request, AlterConfigsRequest, version)
            self.assertEqual(
                values(body),
                {
                    "ssl.keystore.password": HIDDEN,
                    "listener.name.external.ssl.key.password": HIDDEN,
                    "listener.name.sasl.plain.sasl.jaas.config": HIDDEN,
                    "delegation.token.secret.key": HIDDEN,
                    "log.cleaner.threads": "2",
                },
            )
            self.assertNotIn(SECRET, json.dumps(body))

    def test_alter_configs_topic(self) -> None:
        """A topic's known configs are shown; a key that is no topic config is hidden."""
        request = alter(TOPIC, "t", ("cleanup.policy", "compact"), ("ssl.key.password", SECRET))
        body = rendered(request, AlterConfigsRequest, 1)
        self.assertEqual(values(body), {"cleanup.policy": "compact", "ssl.key.password": HIDDEN})

    def test_broker_logger_shown(self) -> None:
        """Logger levels (BROKER_LOGGER) are not secret: Kafka logs them."""
        body = rendered(
            alter(BROKER_LOGGER, "1", ("kafka.server", "DEBUG")), AlterConfigsRequest, 1
        )
        self.assertEqual(values(body), {"kafka.server": "DEBUG"})

    def test_unknown_resource_type_hidden(self) -> None:
        """A resource type Kafka's loggableValue does not know hides every value."""
        self.assertTrue(sensitive(99, "anything"))
        self.assertFalse(sensitive(16, "interval.ms"))

    def test_incremental_alter_configs(self) -> None:
        """IncrementalAlterConfigs hides the same values; a null value (a delete) stays null."""
        resource = ClientIncremental.AlterConfigsResource
        request = ClientIncremental(
            resources=[
                resource(
                    resource_type=BROKER,
                    resource_name="",
                    configs=[
                        resource.AlterableConfig(
                            name="sasl.jaas.config", config_operation=0, value=SECRET
                        ),
                        resource.AlterableConfig(
                            name="ssl.truststore.password", config_operation=1, value=None
                        ),
                        resource.AlterableConfig(
                            name="max.connections", config_operation=0, value="100"
                        ),
                    ],
                )
            ],
            validate_only=True,
        )
        body = rendered(request, IncrementalAlterConfigsRequest, 1)
        self.assertEqual(
            values(body),
            {"sasl.jaas.config": HIDDEN, "ssl.truststore.password": None, "max.connections": "100"},
        )

    def test_create_topics(self) -> None:
        """CreateTopics' configs are topic configs: unknown keys hidden, known ones shown."""
        topic = ClientCreate.CreatableTopic
        request = ClientCreate(
            topics=[
                topic(
                    name="t",
                    num_partitions=1,
                    replication_factor=1,
                    assignments=[],
                    configs=[
                        topic.CreatableTopicConfig(name="retention.ms", value="1000"),
                        topic.CreatableTopicConfig(name="sasl.jaas.config", value=SECRET),
                    ],
                )
            ],
            timeout_ms=1000,
            validate_only=False,
        )
        for version in (2, 5):
            body = rendered(request, CreateTopicsRequest, version)
            self.assertEqual(
                values(body, "Topics"), {"retention.ms": "1000", "sasl.jaas.config": HIDDEN}
            )

    def test_describe_configs_sensitive_flag(self) -> None:
        """A DescribeConfigs result flagged IsSensitive hides its value and its synonyms'."""
        config = DescribeConfigsResourceResult(
            name="custom.secret",
            value=SECRET,
            is_sensitive=True,
            synonyms=(DescribeConfigsSynonym(name="custom.secret", value=SECRET, source=5),),
        )
        shown = DescribeConfigsResourceResult(name="num.io.threads", value="8")
        response = DescribeConfigsResponse(
            results=(
                DescribeConfigsResult(
                    resource_type=BROKER, resource_name="1", configs=(config, shown)
                ),
            )
        )
        body = render(response, 4)
        self.assertNotIn(SECRET, json.dumps(body))
        self.assertEqual(values(body, "Results")["num.io.threads"], "8")


class SecretFieldTests(SynchronousTestCase):
    def test_sasl_authenticate(self) -> None:
        """SaslAuthenticate's bytes (a PLAIN password) are hidden, both ways."""
        token = b"\x00alice\x00" + SECRET.encode()
        for version in (0, 2):
            body = rendered(ClientSasl(auth_bytes=token), SaslAuthenticateRequest, version)
            self.assertEqual(body, {"AuthBytes": HIDDEN})
        response = render(SaslAuthenticateResponse(auth_bytes=b"server-final"), 2)
        self.assertEqual(response["AuthBytes"], HIDDEN)

    def test_scram_credentials(self) -> None:
        """AlterUserScramCredentials' salts and salted passwords are hidden; the rest shown."""
        upsertion = ClientScram.ScramCredentialUpsertion(
            name="alice", mechanism=1, iterations=4096, salt=b"salt!", salted_password=b"x" * 32
        )
        request = ClientScram(deletions=[], upsertions=[upsertion])
        body = rendered(request, AlterUserScramCredentialsRequest, 0)
        self.assertEqual(
            body["Upsertions"],
            [
                {
                    "Name": "alice",
                    "Mechanism": 1,
                    "Iterations": 4096,
                    "Salt": HIDDEN,
                    "SaltedPassword": HIDDEN,
                }
            ],
        )
