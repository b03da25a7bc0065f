"""kcat (librdkafka's command-line client) against a loopback kafkatwist broker.

kcat must be installed: test.sh installs it with apt-get (Debian package
``kcat``); these tests fail, not skip, without it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import pytest_twisted

from tests.integration.harness import (
    RunningBroker,
    require_executable,
    run_process,
)


def kcat(broker: RunningBroker, *args: str, stdin: bytes | None = None, timeout: float = 20) -> Any:
    path = require_executable(
        "kcat", "run ./test.sh (it installs the Debian package kcat) or apt-get install kcat"
    )
    return run_process([path, "-b", broker.bootstrap, *args], stdin=stdin, timeout=timeout)


def json_lines(output: bytes) -> list[Any]:
    return [json.loads(line) for line in output.decode().splitlines() if line.strip()]


@pytest.mark.broker_properties({"num.partitions": "2"})
@pytest_twisted.ensureDeferred
async def test_metadata_listing(broker: RunningBroker, topic_name: str) -> None:
    """kcat -L shows this broker as the controller and every partition of an auto-created topic."""
    (await kcat(broker, "-P", "-t", topic_name, "-p", "1", stdin=b"one\n")).check()
    result = (await kcat(broker, "-L", "-J")).check()
    [listing] = json_lines(result.stdout)
    assert listing["controllerid"] == 1
    assert listing["brokers"] == [{"id": 1, "name": broker.bootstrap}]
    [topic] = [t for t in listing["topics"] if t["topic"] == topic_name]
    assert [
        (p["partition"], p["leader"], p["replicas"], p["isrs"]) for p in topic["partitions"]
    ] == [(p, 1, [{"id": 1}], [{"id": 1}]) for p in (0, 1)]


@pytest_twisted.ensureDeferred
async def test_keyed_produce_and_consume(broker: RunningBroker, topic_name: str) -> None:
    """kcat -P -K: stores keys and values that kcat -C -e reads back in order."""
    lines = b"alpha:1\nbeta:2\n:no key\ngamma:with:colons\n"
    (await kcat(broker, "-P", "-K:", "-t", topic_name, stdin=lines)).check()
    result = (await kcat(broker, "-C", "-e", "-o", "0", "-J", "-t", topic_name)).check()
    got = [(m["offset"], m["key"], m["payload"]) for m in json_lines(result.stdout)]
    assert got == [
        (0, "alpha", "1"),
        (1, "beta", "2"),
        (2, "", "no key"),
        (3, "gamma", "with:colons"),
    ]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
@pytest_twisted.ensureDeferred
async def test_compressed_with_headers(broker: RunningBroker, topic_name: str, codec: str) -> None:
    """kcat -z CODEC -H produces compressed batches whose records and headers come back intact."""
    payload = b"".join(b"line %d %s\n" % (i, b"x" * i) for i in range(50))
    (
        await kcat(
            broker,
            "-P",
            "-z",
            codec,
            "-H",
            "origin=kcat",
            "-H",
            "codec=" + codec,
            "-t",
            topic_name,
            stdin=payload,
        )
    ).check()
    result = (await kcat(broker, "-C", "-e", "-o", "0", "-J", "-t", topic_name)).check()
    got = json_lines(result.stdout)
    assert [m["payload"] for m in got] == [line.decode() for line in payload.splitlines()]
    assert {tuple(m["headers"]) for m in got} == {("origin", "kcat", "codec", codec)}
    assert [m["offset"] for m in got] == list(range(50))


@pytest_twisted.ensureDeferred
async def test_consume_from_beginning(broker: RunningBroker, topic_name: str) -> None:
    """kcat -C -e -o beginning reads everything produced so far."""
    (await kcat(broker, "-P", "-K:", "-t", topic_name, stdin=b"a:1\nb:2\n")).check()
    result = (
        await kcat(broker, "-C", "-e", "-o", "beginning", "-J", "-t", topic_name, timeout=15)
    ).check()
    assert [(m["key"], m["payload"]) for m in json_lines(result.stdout)] == [("a", "1"), ("b", "2")]
