"""The protocol trace (L{kafkatwist.trace}) on a real broker, with confluent-kafka as the client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest_twisted

# confluent_kafka.admin does not re-export it (mypy's no_implicit_reexport).
from confluent_kafka.cimpl import NewTopic
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher

from tests.integration.confluent_clients import ProduceArgs, consume, create, produce
from tests.integration.harness import RunningBroker, in_thread, running_broker

COUNT = 300


def messages(n: int) -> list[ProduceArgs]:
    """C{n} keyed messages of 100 bytes, all to partition 0."""
    return [{"key": b"k%d" % i, "value": b"v" * 100, "partition": 0} for i in range(n)]


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a trace file, parsed (each must be one JSON object)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines, "the trace file is empty"
    return [json.loads(line) for line in lines]


def records_of(line: dict[str, Any], topics: str, partitions: str) -> list[dict[str, Any]]:
    """The records summaries of a Produce request or a Fetch response line."""
    return [
        p["Records"]
        for t in line["body"][topics]
        for p in t[partitions]
        if p["Records"] is not None
    ]


@pytest_twisted.ensureDeferred
async def test_trace_file_with_confluent_kafka(tmp_path: Path) -> None:
    """Produce and consume with confluent-kafka: every line JSON, Kafka's names, records counted."""
    trace = tmp_path / "trace.jsonl"
    properties = {"kafkatwist.trace.enable": "true", "kafkatwist.trace.file": str(trace)}
    async with running_broker(str(tmp_path / "logs"), properties) as running:
        bootstrap = running.bootstrap
        assert await in_thread(create, bootstrap, NewTopic("traced", 1, 1)) == {"traced": 0}
        reports = await in_thread(
            produce,
            bootstrap,
            "traced",
            messages(COUNT),
            extra={"compression.type": "lz4", "enable.idempotence": True},
        )
        assert [err for err, _, _ in reports] == [None] * COUNT
        got = await in_thread(consume, bootstrap, [("traced", 0, 0)], COUNT)
        assert len(got) == COUNT
    lines = read_lines(trace)  # the broker has stopped: the file is complete and closed
    apis = {line["api"] for line in lines}
    assert {"ApiVersions", "Metadata", "CreateTopics", "Produce", "Fetch"} <= apis
    for line in lines:
        assert line["kind"] in ("request", "response")
        assert line["listener"] == "PLAINTEXT"
        assert line["principal"] == "User:ANONYMOUS"
        assert line["peer"].startswith("127.0.0.1:")
        assert isinstance(line["correlationId"], int)
        assert line["size"] >= 0
    requests = {(x["peer"], x["correlationId"]): x for x in lines if x["kind"] == "request"}
    responses = {(x["peer"], x["correlationId"]) for x in lines if x["kind"] == "response"}
    # Each response follows its request; one still waiting when its client closed has none.
    assert responses <= requests.keys()
    unanswered = [requests[k]["api"] for k in requests.keys() - responses]
    assert len(unanswered) <= 3, unanswered

    produced = [x for x in lines if x["api"] == "Produce" and x["kind"] == "request"]
    assert produced and all(x["clientId"] == "rdkafka" for x in produced)
    batches = [r for x in produced for r in records_of(x, "TopicData", "PartitionData")]
    assert sum(r["records"] for r in batches) == COUNT
    assert {r["compression"] for r in batches} == {"lz4"}
    assert all(r["producerId"] >= 0 and r["producerEpoch"] >= 0 for r in batches)  # idempotent
    assert (
        produced[0]["body"]["TopicData"][0]["Name"] == "traced" or produced[0]["apiVersion"] >= 13
    )

    answered = [x for x in lines if x["api"] == "Produce" and x["kind"] == "response"]
    assert all(x["latencyMs"] >= 0 for x in answered)
    partitions = [
        p for x in answered for t in x["body"]["Responses"] for p in t["PartitionResponses"]
    ]
    assert {p["ErrorCode"] for p in partitions} == {0}

    fetched = [x for x in lines if x["api"] == "Fetch" and x["kind"] == "response"]
    summaries = [r for x in fetched for r in records_of(x, "Responses", "Partitions")]
    assert sum(r["records"] for r in summaries) >= COUNT
    assert min(r["baseOffset"] for r in summaries if r["batches"]) == 0
    assert max(r["lastOffset"] for r in summaries if r["batches"]) == COUNT - 1


@pytest_twisted.ensureDeferred
async def test_trace_filters_by_api_and_client_id(tmp_path: Path) -> None:
    """Only the named API from the named client id is traced."""
    trace = tmp_path / "trace.jsonl"
    properties = {
        "kafkatwist.trace.enable": "true",
        "kafkatwist.trace.file": str(trace),
        "kafkatwist.trace.apis": "produce",
        "kafkatwist.trace.client.ids": "traced-app",
    }
    async with running_broker(str(tmp_path / "logs"), properties) as running:
        bootstrap = running.bootstrap
        assert await in_thread(create, bootstrap, NewTopic("filtered", 1, 1)) == {"filtered": 0}
        for client_id in ("traced-app", "other-app"):
            reports = await in_thread(
                produce, bootstrap, "filtered", messages(10), extra={"client.id": client_id}
            )
            assert [err for err, _, _ in reports] == [None] * 10
    lines = read_lines(trace)
    assert {(x["api"], x["clientId"]) for x in lines} == {("Produce", "traced-app")}
    produced = [x for x in lines if x["kind"] == "request"]
    assert (
        sum(r["records"] for x in produced for r in records_of(x, "TopicData", "PartitionData"))
        == 10
    )


@pytest_twisted.ensureDeferred
async def test_trace_to_the_twisted_log(tmp_path: Path) -> None:
    """Without a file, each line is a Twisted log event of namespace kafkatwist.trace."""
    seen: list[str] = []

    def observe(event: LogEvent) -> None:
        if event.get("log_namespace") == "kafkatwist.trace":
            seen.append(formatEvent(event))

    observer = cast(ILogObserver, observe)
    globalLogPublisher.addObserver(observer)
    try:
        properties = {"kafkatwist.trace.enable": "true", "kafkatwist.trace.apis": "Metadata"}
        async with running_broker(str(tmp_path / "logs"), properties) as running:
            await in_thread(create, running.bootstrap, NewTopic("logged", 1, 1))
    finally:
        globalLogPublisher.removeObserver(observer)
    lines = [json.loads(line) for line in seen]
    assert lines and {x["api"] for x in lines} == {"Metadata"}
    responses = [x for x in lines if x["kind"] == "response"]
    assert all("Brokers" in x["body"] and "Topics" in x["body"] for x in responses)


def test_off_by_default(broker: RunningBroker) -> None:
    """A broker started without the trace has no request hook: the request path is unchanged."""
    assert broker.broker.hooks == []
