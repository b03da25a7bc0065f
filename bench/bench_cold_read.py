# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Cold-read benchmark: produce/consume latency of one client while another reads a cold log.

Run (as root, for drop_caches): /work/main/.venv/bin/python bench/bench_cold_read.py
    [--gib 2] [--before-src DIR] [--data DIR] [--keep-data]

1. Writes a log of --gib GiB to a 1-partition topic ("cold": 10 KiB messages,
   1 MiB batches, acks=1) through a broker process, then stops it (clean shutdown).
   With --data DIR an existing log dir from an earlier --keep-data run is reused.
2. For each broker source tree (--before-src, e.g. main's checkout from
   ``git archive``, then this tree): starts a broker over that log dir, runs
   every code path once (a short read of "cold", a probe), empties the page
   cache (``sync; echo 3 > /proc/sys/vm/drop_caches``), starts the latency
   probe (200 msg/s to the 1-partition topic "probe", acks=1, a consumer
   long-polling with fetch.wait.max.ms 500), and after 2 s starts one consumer
   (in a process of its own) reading "cold" from offset 0 to its end
   (max.partition.fetch.bytes 1 MiB, librdkafka's default; --fetch-bytes).
   Reports the read's duration and MB/s, and p50/p99/max of the probe's
   produce->consume latency over the messages sent while the cold read ran.
   --warm is the control: the same with the log read once first (page cache warm).

Also prints the broker's reactor stalls during the read (gaps over 5/10/50 ms
between runs of a 1 ms timer installed in the broker process), and the load
average before each run: the machine is shared, and the figures mean little
when it is busy.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin does not re-export it

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_clients import free_port, stop_process, wait_listening  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MESSAGE = 10 * 1024
PROBE_RATE = 200.0


#: Run in the broker process before twistd: records every reactor stall over 2 ms
#: (the gap between two runs of a 1 ms timer) with its end time, written at exit.
_STALL_MONITOR = """
import os, time
from twisted.internet import reactor
from twisted.internet.task import LoopingCall
stalls, last = [], [0.0]
def tick():
    now = time.perf_counter()
    if last[0] and now - last[0] > 0.002:
        stalls.append((now, now - last[0]))
    last[0] = now
reactor.callWhenRunning(lambda: LoopingCall(tick).start(0.001))
def dump():
    with open(os.environ["STALL_FILE"], "w") as f:
        f.write("\\n".join(f"{t} {g}" for t, g in stalls))
reactor.addSystemEventTrigger("after", "shutdown", dump)
from twisted.scripts.twistd import run
run()
"""


class Broker:
    """A broker process from source tree C{src} over log dir C{log_dir} (kept on stop)."""

    def __init__(self, src: Path, log_dir: str) -> None:
        self.port = free_port()
        self.stall_file = os.path.join(tempfile.gettempdir(), f"cold-{self.port}.stalls")
        self.output = open(os.path.join(tempfile.gettempdir(), f"cold-{self.port}.out"), "wb")  # noqa: SIM115
        argv = [
            sys.executable,
            "-c",
            _STALL_MONITOR,
            "--nodaemon",
            "--pidfile=",
            "kafkatwist",
            "--listen",
            f"tcp:{self.port}:interface=127.0.0.1",
            "--log-dirs",
            log_dir,
        ]
        env = dict(os.environ, PYTHONPATH=str(src), STALL_FILE=self.stall_file)
        self.proc = subprocess.Popen(
            argv, cwd=src, env=env, stdout=self.output, stderr=subprocess.STDOUT
        )
        wait_listening(self.proc, self.port, self.output.name, timeout=120)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc, timeout=120)
        self.output.close()
        os.unlink(self.output.name)

    def stalls(self) -> list[tuple[float, float]]:
        """The reactor's stalls over 2 ms: (end time, seconds), read once the broker stopped."""
        with open(self.stall_file) as f:
            text = f.read()
        os.unlink(self.stall_file)
        return [(float(t), float(g)) for t, g in (line.split() for line in text.splitlines())]


def create_topics(bootstrap: str, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic(name, 1, 1) for name in names]
    for future in admin.create_topics(topics, operation_timeout=10).values():
        future.result(15)


def write_log(bootstrap: str, gib: float) -> int:
    """Produce C{gib} GiB of 10 KiB messages to "cold"; the message count."""
    count = int(gib * (1 << 30)) // MESSAGE
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1 << 20,
            "acks": 1,
            "queue.buffering.max.kbytes": 1 << 20,
        }
    )
    payloads = [os.urandom(MESSAGE) for _ in range(16)]
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce("cold", payloads[i & 15], partition=0)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(300):
        raise RuntimeError("undelivered messages")
    elapsed = time.perf_counter() - start
    print(f"wrote {count} messages ({count * MESSAGE / 1e9:.2f} GB) in {elapsed:.1f} s")
    return count


def drop_caches() -> None:
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Probe:
    """200 msg/s to "probe" (acks=1) and a long-polling consumer: (send time, latency) pairs."""

    def __init__(self, bootstrap: str) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "probe",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 500,
                "fetch.min.bytes": 1,
                "auto.offset.reset": "latest",
            }
        )
        self._consumer.assign([TopicPartition("probe", 0, 0)])
        self._consumer.poll(0.5)
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": 1})
        self._threads = [
            threading.Thread(target=self._consume),
            threading.Thread(target=self._send),
        ]
        for t in self._threads:
            t.start()

    def _consume(self) -> None:
        while not self._stop.is_set():
            msg = self._consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            sent = float(msg.value() or b"nan")
            self.samples.append((sent, time.perf_counter() - sent))

    def _send(self) -> None:
        interval = 1.0 / PROBE_RATE
        next_send = time.perf_counter()
        while not self._stop.is_set():
            now = time.perf_counter()
            if now < next_send:
                time.sleep(next_send - now)
            self._producer.produce("probe", repr(time.perf_counter()).encode(), partition=0)
            self._producer.poll(0)
            next_send += interval
        self._producer.flush(10)

    def stop(self) -> None:
        time.sleep(1.0)  # the last messages arrive
        self._stop.set()
        for t in self._threads:
            t.join()
        self._consumer.close()


def read_cold(bootstrap: str, count: int, fetch_bytes: int) -> tuple[float, float]:
    """Read "cold" from offset 0 to its end: (start, end) on perf_counter."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "cold-reader",
            "enable.auto.commit": False,
            "max.partition.fetch.bytes": fetch_bytes,
            "fetch.queue.backoff.ms": 10,
        }
    )
    consumer.assign([TopicPartition("cold", 0, 0)])
    got = 0
    start = time.perf_counter()
    while got < count:
        if time.perf_counter() - start > 900:
            raise RuntimeError(f"read {got} of {count}")
        for msg in consumer.consume(num_messages=10000, timeout=1.0):
            if msg.error():
                raise KafkaException(msg.error())
            got += 1
    end = time.perf_counter()
    consumer.close()
    return start, end


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(label: str, src: Path, log_dir: str, count: int, args: argparse.Namespace) -> None:
    load = os.getloadavg()
    broker = Broker(src, log_dir)
    try:
        if args.warm:
            read_cold(broker.bootstrap, count, args.fetch_bytes)
        else:
            # Exercise every code path first: a module imported lazily after the
            # cache was dropped would be read from the disk (not what is measured).
            read_cold(broker.bootstrap, 1000, args.fetch_bytes)
            Probe(broker.bootstrap).stop()
            drop_caches()
        probe = Probe(broker.bootstrap)
        time.sleep(2.0)
        # The reader runs in a process of its own: in this one its Python loop
        # would hold the GIL the probe's threads need to time their messages.
        with multiprocessing.Pool(1) as reader:
            start, end = reader.apply(read_cold, (broker.bootstrap, count, args.fetch_bytes))
        probe.stop()
    finally:
        broker.stop()
    during = [lat * 1000 for sent, lat in probe.samples if start <= sent <= end]
    stalls = [gap * 1000 for t, gap in broker.stalls() if start <= t <= end + 0.1]
    if not during:
        raise RuntimeError("no probe message was sent during the cold read")
    mb = count * MESSAGE / 1e6
    print(
        f"{label:7s} cold read {mb / 1000:.2f} GB in {end - start:.1f} s "
        f"({mb / (end - start):.0f} MB/s); "
        f"probe during it: {len(during)} msgs, p50 {percentile(during, 50):.2f} ms, "
        f"p99 {percentile(during, 99):.2f} ms, max {max(during):.2f} ms "
        f"(load average before: {load[0]:.2f} {load[1]:.2f})"
    )
    over = [sum(1 for g in stalls if g > limit) for limit in (5, 10, 50)]
    print(
        f"        reactor stalls during it: {over[0]} > 5 ms, {over[1]} > 10 ms, "
        f"{over[2]} > 50 ms, longest {max(stalls, default=0):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="size of the cold log")
    parser.add_argument("--before-src", type=Path, help="a source tree for the 'before' run")
    parser.add_argument("--data", help="reuse this log dir (from an earlier --keep-data run)")
    parser.add_argument("--keep-data", action="store_true", help="keep the log dir")
    parser.add_argument("--runs", type=int, default=1, help="alternating runs of each")
    parser.add_argument(
        "--fetch-bytes",
        type=int,
        default=1048576,
        help="the reader's max.partition.fetch.bytes (librdkafka's default: 1 MiB)",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="control: read the log once first instead of dropping the cache",
    )
    args = parser.parse_args()
    log_dir = args.data or tempfile.mkdtemp(prefix="cold-read-", dir="/work")
    count_file = os.path.join(log_dir, "bench-count")
    try:
        if args.data:
            with open(count_file) as f:
                count = int(f.read())
        else:
            broker = Broker(REPO, log_dir)
            try:
                create_topics(broker.bootstrap, "cold", "probe")
                count = write_log(broker.bootstrap, args.gib)
            finally:
                broker.stop()
            with open(count_file, "w") as f:
                f.write(str(count))
        for _ in range(args.runs):
            if args.before_src is not None:
                run("before", args.before_src, log_dir, count, args)
            run("after", REPO, log_dir, count, args)
    finally:
        if not args.keep_data and not args.data:
            shutil.rmtree(log_dir, ignore_errors=True)
        elif args.keep_data:
            print(f"log dir kept: {log_dir}")


if __name__ == "__main__":
    main()
