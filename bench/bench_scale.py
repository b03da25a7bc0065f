# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Scale benchmark: many small partitions, descriptors, clean stop and restarts.

Run: .venv/bin/python bench/bench_scale.py [--partitions N] [--per-topic P] [--nofile L]

Starts the broker as its own process (twistd with the kafkatwist plugin) with
its descriptor limit lowered to L (C{RLIMIT_NOFILE}, default 20,000), then:

1. creates N partitions as N/P topics of P partitions (CreateTopics, one topic
   per request), and produces one record to each partition (acks=1);
2. counts the broker's open descriptors (``/proc/PID/fd``) per partition;
3. stops it with SIGTERM and times the clean stop (signal to exit);
4. starts it again and times the start (spawn to "listening"), counts the
   descriptors at rest again;
5. SIGKILLs it, starts it again and times that start;
6. checks every partition still holds its record (ListOffsets latest = 1).

--profile DIR runs each broker process under cProfile (twistd --profile) and
writes one stats file per phase there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin does not re-export it

REPO = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"kafkatwist listening on [^ ]*:(\d+) ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """One broker process with a lowered descriptor limit."""

    def __init__(self, log_dir: str, port: int, nofile: int, profile: str | None) -> None:
        self.log_dir = log_dir
        self.port = port
        self.nofile = nofile
        self.profile = profile
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._ready = threading.Event()

    def _limit(self) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def start(self, timeout: float = 600.0) -> float:
        """Start and wait until it listens; return the seconds that took."""
        twistd = Path(sys.executable).with_name("twistd")
        profile = [f"--profile={self.profile}", "--profiler=cprofile"] if self.profile else []
        command = [
            sys.executable,
            str(twistd),
            "--nodaemon",
            "--pidfile=",
            *profile,
            "kafkatwist",
            f"--listen=tcp:{self.port}:interface=127.0.0.1",
            f"--log-dirs={self.log_dir}",
        ]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.lines = []
        self._ready.clear()
        started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            cwd=str(REPO),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=self._limit,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        if not self._ready.wait(timeout):
            self.process.kill()
            raise SystemExit("the broker did not start:\n" + "".join(self.lines[-40:]))
        return time.monotonic() - started

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)
            if _LISTENING.search(line):
                self._ready.set()

    def fds(self) -> int:
        assert self.process is not None
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def stop(self) -> float:
        """SIGTERM; return the seconds until the process exited."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(600)
        took = time.monotonic() - started
        if code != 0:
            raise SystemExit(f"clean stop exited {code}:\n" + "".join(self.lines[-40:]))
        return took

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(60)


def create_and_produce(bootstrap: str, topics: list[str], per_topic: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for name in topics:
        for future in admin.create_topics([NewTopic(name, per_topic, 1)]).values():
            try:
                future.result(120)
            except KafkaException as e:
                raise SystemExit(f"creating {name} failed: {e}") from None
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "1",
            "linger.ms": 50,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    for name in topics:
        for p in range(per_topic):
            producer.produce(name, b"x" * 100, partition=p)
        producer.poll(0)
    left = producer.flush(300)
    if left:
        raise SystemExit(f"{left} records were not delivered")


def check_offsets(bootstrap: str, topics: list[str], per_topic: int) -> int:
    """How many partitions do not end at offset 1."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    request = {TopicPartition(t, p): latest for t in topics for p in range(per_topic)}
    bad = 0
    for future in admin.list_offsets(request, request_timeout=120).values():
        if future.result(300).offset != 1:
            bad += 1
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=10_000)
    parser.add_argument("--per-topic", type=int, default=100)
    parser.add_argument("--nofile", type=int, default=20_000)
    parser.add_argument("--profile", help="a directory for cProfile stats, one per phase")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    count = max(args.partitions // args.per_topic, 1)
    topics = [f"scale-{i:05d}" for i in range(count)]
    partitions = count * args.per_topic
    tmp = tempfile.mkdtemp(prefix="bench-scale-")
    port = free_port()
    results: dict[str, float | int] = {"partitions": partitions, "nofile": args.nofile}

    def broker(phase: str) -> Broker:
        profile = os.path.join(args.profile, f"{phase}.prof") if args.profile else None
        return Broker(os.path.join(tmp, "logs"), port, args.nofile, profile)

    try:
        b = broker("create")
        b.start()
        base_fds = b.fds()
        started = time.monotonic()
        create_and_produce(f"127.0.0.1:{port}", topics, args.per_topic)
        results["create_produce_s"] = round(time.monotonic() - started, 2)
        time.sleep(1)
        results["fds_per_partition_after_produce"] = round((b.fds() - base_fds) / partitions, 3)
        results["clean_stop_s"] = round(b.stop(), 2)

        b = broker("clean-start")
        results["start_after_clean_stop_s"] = round(b.start(), 2)
        time.sleep(1)
        results["fds_per_partition_at_rest"] = round((b.fds() - base_fds) / partitions, 3)
        b.kill()

        b = broker("sigkill-start")
        results["start_after_sigkill_s"] = round(b.start(), 2)
        results["partitions_without_their_record"] = check_offsets(
            f"127.0.0.1:{port}", topics, args.per_topic
        )
        results["clean_stop_after_recovery_s"] = round(b.stop(), 2)
    finally:
        if b.process is not None and b.process.poll() is None:
            b.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key:34} {value}")


if __name__ == "__main__":
    main()
