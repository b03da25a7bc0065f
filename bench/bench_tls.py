# mypy: disallow-untyped-calls, disallow-untyped-decorators
"""Produce and consume throughput over TLS against plaintext: the same workload on each listener.

Run: .venv/bin/python bench/bench_tls.py [--messages N] [--size BYTES] [--runs R]
         [--listeners PLAINTEXT,SSL,SASL_SSL] [--client-auth required]

Makes a CA and certificates (tests/security/certs.py) in a temporary
directory, starts one broker process (twistd with the kafkatwist plugin) with
a listener per security protocol (PLAINTEXT; SSL: a PEM key store, with
--client-auth required mTLS; SASL_SSL: the same TLS, SCRAM-SHA-512), then for
each run and each listener, in turn: produces N messages of SIZE random bytes
to a new 1-partition topic through that listener (linger.ms=5, batch.size=1
MiB, acks=1, no compression; bench_clients' produce phase) and consumes them
back from offset 0 (assign, no group). It prints MB/s (payload bytes, 10^6) per
listener and phase (the median of the runs) and each protocol's ratio to
PLAINTEXT.

A listener is a L{Workload}: its C{server.properties} lines and the client
settings that go with them. C{--listeners PLAINTEXT,SSL,SASL_SSL} adds a
SASL_SSL listener (the SSL one's TLS settings, SCRAM-SHA-512; its user is
created through the PLAINTEXT listener, which must come first).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from attrs import frozen
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

# confluent_kafka.admin does not re-export these (mypy's no_implicit_reexport).
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)
from confluent_kafka.cimpl import NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_clients import (  # noqa: E402
    drain,
    free_port,
    produce_phase,
    stop_process,
    twistd_command,
)
from tests.integration.confluent_clients import client_security  # noqa: E402
from tests.security.certs import Pki, make_pki  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

#: The SCRAM-SHA-512 user of the SASL_SSL workload.
BENCH_USER = ("bench", "bench-secret")


@frozen
class Workload:
    """One listener: its name and protocol, its server.properties lines, its clients' settings."""

    name: str
    protocol: str
    server: dict[str, str]
    client: dict[str, Any]
    #: SCRAM-SHA-512 users (name, password) its clients log in as, made before the runs.
    scram_users: tuple[tuple[str, str], ...] = ()


def plaintext(pki: Pki, client_auth: str) -> Workload:
    """A PLAINTEXT listener."""
    return Workload("PLAINTEXT", "PLAINTEXT", {}, {})


def ssl(pki: Pki, client_auth: str) -> Workload:
    """An SSL listener with a PEM key store (and the test CA trusted, for client certificates)."""
    server = {
        "listener.name.ssl.ssl.keystore.type": "PEM",
        "listener.name.ssl.ssl.keystore.location": pki.server.keystore,
        "listener.name.ssl.ssl.truststore.type": "PEM",
        "listener.name.ssl.ssl.truststore.location": pki.ca_file,
        "listener.name.ssl.ssl.client.auth": client_auth,
    }
    identity = None if client_auth == "none" else "alice"
    return Workload("SSL", "SSL", server, client_security("SSL", pki, identity))


def sasl_ssl(pki: Pki, client_auth: str) -> Workload:
    """
    A SASL_SSL listener: the TLS settings of L{ssl}, SCRAM-SHA-512 with the user C{bench}
    (created through the PLAINTEXT listener with AlterUserScramCredentials, 4096 iterations).
    """
    server = {
        "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
        "listener.name.sasl_ssl.ssl.keystore.location": pki.server.keystore,
        "listener.name.sasl_ssl.ssl.truststore.type": "PEM",
        "listener.name.sasl_ssl.ssl.truststore.location": pki.ca_file,
        "listener.name.sasl_ssl.ssl.client.auth": client_auth,
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512",
    }
    identity = None if client_auth == "none" else "alice"
    client = client_security("SASL_SSL", pki, identity, sasl=("SCRAM-SHA-512", *BENCH_USER))
    return Workload("SASL_SSL", "SASL_SSL", server, client, scram_users=(BENCH_USER,))


WORKLOADS = {"PLAINTEXT": plaintext, "SSL": ssl, "SASL_SSL": sasl_ssl}


def start_broker(
    workloads: list[Workload], directory: str
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """A broker process with one listener per workload; its process and each listener's port."""
    ports = {w.name: free_port() for w in workloads}
    lines = {
        "listeners": ",".join(f"{w.name}://127.0.0.1:{ports[w.name]}" for w in workloads),
        "listener.security.protocol.map": ",".join(f"{w.name}:{w.protocol}" for w in workloads),
        "log.dirs": os.path.join(directory, "logs"),
        "node.id": "1",
    }
    for w in workloads:
        lines.update(w.server)
    properties = os.path.join(directory, "server.properties")
    with open(properties, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in lines.items())
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    output = open(os.path.join(directory, "broker.out"), "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        twistd_command(properties),
        cwd=REPO,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while b"kafkatwist serving" not in Path(output.name).read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the broker did not start; see {output.name}")
        time.sleep(0.1)
    return proc, ports


def create_topic(bootstrap: str, client: dict[str, Any], name: str) -> None:
    """A 1-partition topic."""
    admin = AdminClient({"bootstrap.servers": bootstrap, **client})
    for future in admin.create_topics([NewTopic(name, 1, 1)], operation_timeout=15).values():
        future.result(20)


def create_scram_users(bootstrap: str, users: list[tuple[str, str]]) -> None:
    """SCRAM-SHA-512 credentials (4096 iterations) for C{users}, through a PLAINTEXT listener."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(
            name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), password.encode()
        )
        for name, password in users
    ]
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result(20)


def consume(bootstrap: str, client: dict[str, Any], topic: str, count: int) -> float:
    """Consume C{count} messages from offset 0 (assign, no group); the elapsed seconds."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            **client,
            "group.id": "bench-tls",
            "enable.auto.commit": False,
            "max.partition.fetch.bytes": 10485760,
            "fetch.queue.backoff.ms": 10,
        }
    )
    return drain(consumer, topic, count)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=500_000, help="messages per phase")
    parser.add_argument("--size", type=int, default=100, help="message value size in bytes")
    parser.add_argument("--runs", type=int, default=3, help="runs per listener")
    parser.add_argument("--listeners", default="PLAINTEXT,SSL", help="workloads, PLAINTEXT first")
    parser.add_argument("--client-auth", default="none", choices=("none", "requested", "required"))
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="kafkatwist-bench-tls-")
    pki = make_pki(os.path.join(directory, "pki"))
    workloads = [WORKLOADS[n.strip()](pki, args.client_auth) for n in args.listeners.split(",")]
    proc, ports = start_broker(workloads, directory)
    users = [user for w in workloads for user in w.scram_users]
    if users:
        create_scram_users(f"127.0.0.1:{ports[workloads[0].name]}", users)
    megabytes = args.messages * args.size / 1e6
    rates: dict[tuple[str, str], list[float]] = {}
    settings = {"linger.ms": 5, "batch.size": 1 << 20, "acks": "1"}
    try:
        for run in range(args.runs):
            for w in workloads:
                bootstrap = f"127.0.0.1:{ports[w.name]}"
                topic = f"bench-{w.name.lower()}-{run}"
                create_topic(bootstrap, w.client, topic)
                produced = produce_phase(
                    bootstrap, topic, args.messages, args.size, {**settings, **w.client}
                )
                consumed = consume(bootstrap, w.client, topic, args.messages)
                rates.setdefault((w.name, "produce"), []).append(megabytes / produced)
                rates.setdefault((w.name, "consume"), []).append(megabytes / consumed)
                print(
                    f"run {run + 1} {w.name:10} produce {megabytes / produced:7.1f} MB/s  "
                    f"consume {megabytes / consumed:7.1f} MB/s",
                    flush=True,
                )
    finally:
        stop_process(proc)
    print(f"\n{args.messages} x {args.size} B, median of {args.runs} runs (MB/s):")
    base = workloads[0].name
    for w in workloads:
        cells = []
        for phase in ("produce", "consume"):
            rate = statistics.median(rates[(w.name, phase)])
            ratio = rate / statistics.median(rates[(base, phase)])
            cells.append(f"{phase} {rate:7.1f} ({ratio:.2f} x {base})")
        print(f"  {w.name:10} " + "   ".join(cells))


if __name__ == "__main__":
    main()
