"""Every API of the registry authorizes as Kafka's C{KafkaApis}, or is one Kafka leaves open.

L{CHECKS} names, for each API key, the function its handler module calls to
authorize (and what Kafka checks), or None for the APIs Kafka serves without
an ACL. An API added to the registry without an entry here fails the test,
so a new API cannot ship without deciding its authorization. The check is
static (the per-API authorization tests carry the semantics): the handler's
module must use the named function, and that function must be one of
L{kafkatwist.apis._authz}'s or itself ask the authorizer (C{ctx.authorize}).
"""

from __future__ import annotations

import ast
import inspect
from types import ModuleType

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.apis import REGISTRY, ApiSpec
from kafkatwist.apis import _authz as authz

#: C{ctx.authorize} and C{ctx.authorize_by_resource_type} (L{RequestContext}).
_CONTEXT_CHECKS = frozenset({"authorize", "authorize_by_resource_type"})

#: API key: (the function its handler authorizes with, what Kafka checks), or None if open.
CHECKS: dict[int, tuple[str, str] | None] = {
    0: ("denied_names", "WRITE on each topic; WRITE on the transactional id"),
    1: ("revoked_topics", "READ on each topic; CLUSTER_ACTION for a follower"),
    2: ("filter_authorized", "DESCRIBE on each topic"),
    3: ("authorize", "DESCRIBE on each topic; CREATE for auto-creation"),
    8: ("require", "READ on the group, READ on each topic"),
    9: ("filter_authorized", "DESCRIBE on the group, DESCRIBE on each topic"),
    10: ("authorize", "DESCRIBE on the group or transactional id"),
    11: ("require", "READ on the group"),
    12: ("require", "READ on the group"),
    13: ("require", "READ on the group"),
    14: ("require", "READ on the group"),
    15: ("describe_authorized", "DESCRIBE on each group"),
    16: ("filter_authorized", "DESCRIBE on the cluster, else on each group"),
    17: None,  # SaslHandshake: the authentication itself
    18: None,  # ApiVersions: served before authentication
    19: ("filter_authorized_or_cluster", "CREATE on the cluster or on each topic"),
    20: ("filter_authorized", "DELETE on the cluster or on each topic; DESCRIBE"),
    21: ("filter_authorized", "DELETE on each topic"),
    22: ("require", "WRITE on the transactional id, or IDEMPOTENT_WRITE / any topic WRITE"),
    23: ("filter_authorized", "DESCRIBE on each topic; CLUSTER_ACTION for a follower"),
    24: (
        "filter_authorized",
        "WRITE on the transactional id (or CLUSTER_ACTION), WRITE on each topic",
    ),
    25: ("require", "WRITE on the transactional id, READ on the group"),
    26: ("require", "WRITE on the transactional id"),
    27: ("require_cluster", "CLUSTER_ACTION on the cluster"),
    28: ("require", "WRITE on the transactional id, READ on the group and topics"),
    29: ("require_cluster", "DESCRIBE on the cluster"),
    30: ("require_cluster", "ALTER on the cluster"),
    31: ("require_cluster", "ALTER on the cluster"),
    32: ("config_denied", "DESCRIBE_CONFIGS on the resource or the cluster"),
    33: ("config_denied", "ALTER_CONFIGS on the resource or the cluster"),
    34: ("require_cluster", "ALTER on the cluster"),
    35: ("require_cluster", "DESCRIBE on the cluster"),
    36: None,  # SaslAuthenticate: the authentication itself
    37: ("filter_authorized", "ALTER on each topic"),
    42: ("partition_by_authorized", "DELETE on each group"),
    43: ("require_cluster", "ALTER on the cluster"),
    44: ("config_denied", "ALTER_CONFIGS on the resource or the cluster"),
    45: ("require_cluster", "ALTER on the cluster"),
    46: ("require_cluster", "DESCRIBE on the cluster"),
    47: ("require", "DELETE on the group, READ on each topic"),
    48: ("require_cluster", "DESCRIBE_CONFIGS on the cluster"),
    49: ("require_cluster", "ALTER_CONFIGS on the cluster"),
    50: ("require_cluster", "DESCRIBE on the cluster"),
    51: ("require_cluster", "ALTER on the cluster"),
    55: ("require_cluster", "DESCRIBE on the cluster"),
    57: ("require_cluster", "ALTER on the cluster"),
    # DescribeCluster: Kafka checks nothing but the KIP-430 operations it reports.
    60: ("cluster_authorized_operations", "none (authorized operations only)"),
    61: ("authorize", "READ on each topic"),
    65: ("authorize", "DESCRIBE on each transactional id and its topics"),
    66: ("filter_authorized", "DESCRIBE on each transactional id"),
    68: ("require", "READ on the group, DESCRIBE on subscribed topics"),
    69: ("describe_authorized", "DESCRIBE on each group"),
    71: None,  # GetTelemetrySubscriptions: Kafka's ClientMetricsManager checks no ACL
    72: None,  # PushTelemetry: likewise
    74: ("require_cluster", "DESCRIBE_CONFIGS on the cluster"),
    75: ("authorize", "DESCRIBE on each topic"),
}


def _module(spec: ApiSpec) -> ModuleType:
    module = inspect.getmodule(spec.handle)
    assert module is not None, spec
    return module


def _names_used(module: ModuleType) -> set[str]:
    """The names and attribute names the module's code uses."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
    return used


def _asks_the_authorizer(module: ModuleType, name: str) -> bool:
    """Whether C{name} is the context's check, one of C{_authz}'s, or code calling them."""
    if name in _CONTEXT_CHECKS:
        return True
    target = getattr(module, name)
    if inspect.getmodule(target) is authz:
        return True
    source = inspect.getsource(target)
    return "ctx.authorize" in source or any(
        f"{helper}(" in source for helper in dir(authz) if not helper.startswith("_")
    )


class RegistryAuthorizationTests(SynchronousTestCase):
    """Each API in REGISTRY has its authorization decided and wired."""

    def test_every_api_is_listed(self) -> None:
        """The table names exactly the registry's APIs: a new API must add its check."""
        self.assertEqual(sorted(CHECKS), sorted(spec.api_key for spec in REGISTRY))

    def test_each_handler_uses_its_check(self) -> None:
        """Each non-open API's handler module calls its check, which asks the authorizer."""
        for spec in REGISTRY:
            entry = CHECKS.get(spec.api_key)
            module = _module(spec)
            if entry is None:
                continue
            name, _ = entry
            self.assertIn(name, _names_used(module), module.__name__)
            self.assertTrue(_asks_the_authorizer(module, name), (module.__name__, name))

    def test_open_apis_are_the_ones_kafka_leaves_open(self) -> None:
        """Only ApiVersions, the SASL APIs and client telemetry are served without an ACL check."""
        self.assertEqual(sorted(k for k, v in CHECKS.items() if v is None), [17, 18, 36, 71, 72])
