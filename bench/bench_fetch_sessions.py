# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""An idle consumer of many partitions: broker CPU and Fetch sizes with and without fetch sessions.

Run: /work/main/.venv/bin/python bench/bench_fetch_sessions.py [--partitions 1000] [--seconds 20]

Starts the broker as its own process (bench_clients.BrokerProcess) twice:
with fetch sessions (``max.incremental.fetch.session.cache.slots`` at its
default, 1000) and without (0: every full fetch is answered with session id
0, so the client keeps sending full fetches). Each time one topic of
--partitions partitions is created, empty, and one consumer assigns all of
them at their end and polls with a 500 ms fetch wait (kafka-python's
``fetch_max_wait_ms``, the Java client's ``fetch.max.wait.ms``, librdkafka's
``fetch.wait.max.ms``). Nothing is produced: every fetch waits its 500 ms.

After a warm-up, it reports over --seconds: the broker's CPU as a share of
one core (utime + stime from /proc), the Fetch requests per second and the
mean Fetch request and response sizes. Sizes are measured on the wire by a
relay between the client and the broker (the broker advertises the relay's
port), which reads each frame's length, api key and correlation id.

Clients: kafka-python (3.0.12, sessions), java (kafka-clients 4.3, sessions;
needs javac and the jars of tests/integration/java_client.py) and confluent
(librdkafka, which does not implement KIP-227: a reference).
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import OFFSET_END, Consumer
from confluent_kafka import TopicPartition as CTopicPartition
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_clients import BrokerProcess, free_port, twistd_command  # noqa: E402
from tests.integration import java_client  # noqa: E402

FETCH = 1
JAVA_SOURCE = Path(__file__).resolve().parent / "java" / "IdleConsumer.java"


class Relay:
    """A loopback TCP relay in front of the broker that measures Fetch frames both ways."""

    def __init__(self, port: int, broker_port: int) -> None:
        self.port = port
        self.broker_port = broker_port
        self.lock = threading.Lock()
        self.requests = 0
        self.request_bytes = 0
        self.responses = 0
        self.response_bytes = 0
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.requests = self.request_bytes = self.responses = self.response_bytes = 0

    def _accept(self) -> None:
        while True:
            client, _ = self._server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.broker_port))
            fetches: set[int] = set()
            threading.Thread(
                target=self._pump, args=(client, upstream, fetches, True), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, fetches, False), daemon=True
            ).start()

    def _pump(self, src: socket.socket, dst: socket.socket, fetches: set[int], up: bool) -> None:
        buf = b""
        try:
            while data := src.recv(1 << 20):
                dst.sendall(data)
                buf += data
                while len(buf) >= 4:
                    (size,) = struct.unpack_from(">i", buf)
                    if len(buf) < 4 + size:
                        break
                    self._frame(buf[4 : 4 + size], 4 + size, fetches, up)
                    buf = buf[4 + size :]
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _frame(self, frame: bytes, size: int, fetches: set[int], up: bool) -> None:
        if up:
            api_key, _version, correlation = struct.unpack_from(">hhi", frame)
            if api_key == FETCH:
                fetches.add(correlation)
                with self.lock:
                    self.requests += 1
                    self.request_bytes += size
        else:
            (correlation,) = struct.unpack_from(">i", frame)
            if correlation in fetches:
                fetches.discard(correlation)
                with self.lock:
                    self.responses += 1
                    self.response_bytes += size


def broker_command(slots: int) -> list[str]:
    return twistd_command("--override", f"max.incremental.fetch.session.cache.slots={slots}")


class Broker(BrokerProcess):
    """The broker, advertising a relay's port instead of its own."""

    def __init__(self, slots: int) -> None:
        self.relay_port = free_port()
        command = broker_command(slots) + [
            "--override",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.relay_port}",
        ]
        super().__init__(command, None)


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


def kafka_python_consumer(bootstrap: str, partitions: int, stop: threading.Event) -> None:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=500
    )
    try:
        consumer.assign([TopicPartition("idle", p) for p in range(partitions)])
        consumer.seek_to_end()
        while not stop.is_set():
            consumer.poll(timeout_ms=200)
    finally:
        consumer.close()


def confluent_consumer(bootstrap: str, partitions: int, stop: threading.Event) -> None:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "idle", "fetch.wait.max.ms": 500}
    )
    try:
        consumer.assign([CTopicPartition("idle", p, OFFSET_END) for p in range(partitions)])
        while not stop.is_set():
            consumer.poll(0.2)
    finally:
        consumer.close()


def java_consumer(bootstrap: str, partitions: int, stop: threading.Event) -> None:
    jars = java_client.install(java_client.libs_dir())
    with tempfile.TemporaryDirectory(prefix="idle-java-") as classes:
        cp = os.pathsep.join(jars)
        subprocess.run(["javac", "-cp", cp, "-d", classes, str(JAVA_SOURCE)], check=True)
        proc = subprocess.Popen(
            [
                "java",
                "-cp",
                os.pathsep.join([classes, cp]),
                "IdleConsumer",
                bootstrap,
                "idle",
                str(partitions),
            ]
        )
        stop.wait()
        proc.terminate()
        proc.wait(30)


CLIENTS = {
    "kafka-python": kafka_python_consumer,
    "java": java_consumer,
    "confluent": confluent_consumer,
}


def load() -> str:
    """The load averages, to say how busy the machine was."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def measure(client: str, slots: int, partitions: int, warmup: float, seconds: float) -> str:
    broker = Broker(slots)
    relay = Relay(broker.relay_port, broker.port)
    stop = threading.Event()
    try:
        create_topic(broker.bootstrap, "idle", partitions)
        bootstrap = f"127.0.0.1:{relay.port}"
        thread = threading.Thread(target=CLIENTS[client], args=(bootstrap, partitions, stop))
        thread.start()
        time.sleep(warmup)
        relay.reset()
        cpu0, t0, load0 = broker.cpu(), time.monotonic(), load()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        cpu = 100 * (broker.cpu() - cpu0) / elapsed
        with relay.lock:
            n, req, m, resp = (
                relay.requests,
                relay.request_bytes,
                relay.responses,
                relay.response_bytes,
            )
        stop.set()
        thread.join(60)
        return (
            f"{client:12} sessions {'on ' if slots else 'off'}: broker CPU {cpu:5.2f} % of a core; "
            f"{n / elapsed:4.1f} fetches/s, request {req / max(n, 1):8.0f} B, "
            f"response {resp / max(m, 1):8.0f} B (load average {load0} -> {load()})"
        )
    finally:
        stop.set()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--clients", default="kafka-python,java")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.partitions} partitions, fetch wait 500 ms", flush=True)
    for _ in range(args.runs):
        for client in args.clients.split(","):
            for slots in (0, 1000):
                print(
                    measure(client, slots, args.partitions, args.warmup, args.seconds), flush=True
                )


if __name__ == "__main__":
    main()
