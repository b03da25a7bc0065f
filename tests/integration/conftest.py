"""Fixtures for the real-client integration suite.

``broker`` (function scope): a fresh kafkatwist broker on a free loopback port,
started with ``BrokerService(BrokerConfig.from_properties({...}),
"tcp:0:interface=127.0.0.1", reactor)`` over a temporary ``log.dirs`` and
stopped after the test. It yields a L{harness.RunningBroker}:

* ``broker.bootstrap``: ``"127.0.0.1:PORT"`` for ``bootstrap.servers``;
* ``broker.service``: the L{BrokerService}; ``broker.broker``: its L{Broker}
  (metadata image, logs, controller, groups), to check the broker's side of things;
* ``broker.log_dir``: the log directory.

Extra server properties come from a marker::

    @pytest.mark.broker_properties({"auto.create.topics.enable": "false"})
    @pytest_twisted.ensureDeferred
    async def test_something(broker): ...

Tests are ``async def`` functions under ``@pytest_twisted.ensureDeferred`` that
run blocking clients with ``await harness.in_thread(fn, ..., timeout=...)``
and programs with ``await harness.run_process([...], timeout=...)``.

The reactor is the default one that pytest-twisted installs (its ``--reactor``
option defaults to ``default``); nothing here imports the reactor at import
time, so that stays true whatever the import order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_twisted

from tests.integration.harness import RunningBroker, running_broker
from tests.security.certs import Pki, shared_pki


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "broker_properties(props): extra server.properties for the broker fixture"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a C{file_engine} marker without its reason (the file-engine feature it needs)."""
    for item in items:
        marker = item.get_closest_marker("file_engine")
        if marker is not None and not (marker.args and str(marker.args[0]).strip()):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.file_engine needs a reason naming the file "
                "engine's feature the test exercises"
            )


@pytest_twisted.async_yield_fixture()
async def broker(request: Any, tmp_path: Any) -> AsyncIterator[RunningBroker]:
    marker = request.node.get_closest_marker("broker_properties")
    properties = dict(marker.args[0]) if marker is not None else {}
    async with running_broker(str(tmp_path / "logs"), properties) as running:
        yield running


@pytest.fixture
def topic_name(request: Any) -> str:
    """A topic name unique to the test (legal characters only)."""
    name = request.node.name.replace("[", "-").replace("]", "")
    return "t-" + "".join(c if c.isalnum() or c in "-._" else "-" for c in name)[:200]


@pytest.fixture
def pki() -> Pki:
    """The process's CA and certificates (L{shared_pki}), for tests that only read them."""
    return shared_pki()
