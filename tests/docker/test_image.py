"""The Docker image, built from the Dockerfile and run: a smoke test through the published port.

One module-scoped build, then containers that each publish a port on
127.0.0.1 only, with a unique name, always removed with their volumes:

  - a broker told C{KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:P} and
    published as C{-p 127.0.0.1:P:P} (the listener on C{0.0.0.0:P} derived
    from it, as in apache/kafka) becomes healthy by its HEALTHCHECK, runs as
    uid 1000, advertises that address in Metadata, and takes records produced
    and consumed through the port; stopped (exit status 0) and started
    again, it still has them; a new container on the same volume, published
    as C{-p 127.0.0.1:Q:9092} with C{KAFKA_LISTENERS} and
    C{KAFKA_ADVERTISED_LISTENERS}, has them too. No start logs a
    C{dropin.cache} warning (Twisted's plugin cache is never stale);
  - a broker with the image's defaults advertises C{localhost:9092}.

The engine is podman (as root, as CI runs: test.sh installs podman, runc and
debootstrap there) or a working docker engine. As root with podman and
debootstrap, the base image is made by tests/docker/base.sh once per
machine (C{localhost/kafkatwist-base}, reused while it exists); otherwise
C{$KAFKATWIST_DOCKER_BASE_IMAGE}, else the Dockerfile's default. With no
engine the test is skipped, except under C{CI=true}, where it fails.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from attrs import frozen
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from tests.integration.child import free_port

REPO = Path(__file__).resolve().parents[2]
BASE_SCRIPT = REPO / "tests" / "docker" / "base.sh"
LOCAL_BASE = "localhost/kafkatwist-base"
#: The host's CA bundle, lent to the build (pip's PIP_CERT) where a proxy signs TLS.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DATA = "/var/lib/kafkatwist/data"
TOPIC = "smoke"
RECORDS = [(f"key-{i}".encode(), f"value-{i}".encode()) for i in range(100)]
PLUGIN_CACHE_WARNINGS = ("dropin.cache", "plugin cache")


@frozen
class Engine:
    """A container engine's command line."""

    path: str
    name: str

    def __call__(
        self, args: Sequence[str], timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run C{engine ARGS}; with C{check}, fail the test (showing the output) on an error."""
        result = subprocess.run(
            [self.path, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{self.name} {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def run_options(self) -> list[str]:
        """
        Options for C{run}: podman's default rlimits (nofile 1048576) exceed
        what a process without CAP_SYS_RESOURCE (a sandbox) may grant, so ask
        for ones within ours.
        """
        if self.name != "podman":
            return []
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        files = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        return ["--ulimit", f"nofile={files}:{files}", "--ulimit", "nproc=4096:4096"]


def find_engine() -> Engine | None:
    """podman, else docker, whichever answers C{info}."""
    for name in ("podman", "docker"):
        path = shutil.which(name)
        if path is None:
            continue
        try:
            info = subprocess.run([path, "info"], capture_output=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            continue
        if info.returncode == 0:
            return Engine(path, name)
    return None


@pytest.fixture(scope="module")
def engine() -> Engine:
    found = find_engine()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no container engine answers: test.sh installs podman as root")
        pytest.skip("no container engine (podman, or docker with a running engine)")
    return found


def base_image(engine: Engine) -> str | None:
    """The BASE_IMAGE to build on (see the module docstring); None for the Dockerfile's."""
    configured = os.environ.get("KAFKATWIST_DOCKER_BASE_IMAGE")
    if configured:
        return configured
    if engine.name != "podman" or os.geteuid() != 0 or shutil.which("debootstrap") is None:
        return None
    if engine(["image", "exists", LOCAL_BASE], check=False).returncode != 0:
        made = subprocess.run(
            [str(BASE_SCRIPT), engine.path, LOCAL_BASE],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert made.returncode == 0, f"{BASE_SCRIPT} failed:\n{made.stdout[-4000:]}{made.stderr}"
    return LOCAL_BASE


@pytest.fixture(scope="module")
def image(engine: Engine) -> Iterator[str]:
    tag = f"localhost/kafkatwist-test:{uuid.uuid4().hex[:12]}"
    args = ["build", "-t", tag, "-f", str(REPO / "Dockerfile")]
    if engine.name == "podman":
        # Docker's image format: OCI images have no HEALTHCHECK. No layer
        # cache: the build stage's image would stay behind after the test.
        args += ["--format", "docker", "--layers=false"]
        if CA_BUNDLE.exists():
            args += ["-v", f"{CA_BUNDLE}:/run/kafkatwist-ca.crt:ro"]
            args += ["--build-arg", "PIP_CERT=/run/kafkatwist-ca.crt"]
    base = base_image(engine)
    if base is not None:
        args += ["--build-arg", f"BASE_IMAGE={base}"]
    if os.environ.get("PIP_INDEX_URL"):
        args += ["--build-arg", f"PIP_INDEX_URL={os.environ['PIP_INDEX_URL']}"]
    engine([*args, str(REPO)], timeout=900)
    try:
        yield tag
    finally:
        engine(["rmi", "-f", tag], check=False)


class Containers:
    """Containers and volumes made by one test, all removed at its end."""

    def __init__(self, engine: Engine, image: str) -> None:
        self.engine = engine
        self.image = image
        self.prefix = f"kafkatwist-smoke-{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []
        self.volumes: list[str] = []

    def volume(self) -> str:
        name = f"{self.prefix}-data-{len(self.volumes)}"
        self.engine(["volume", "create", name])
        self.volumes.append(name)
        return name

    def run(
        self,
        host_port: int,
        container_port: int,
        env: dict[str, str],
        volume: str | None = None,
    ) -> str:
        """Start a broker container publishing C{127.0.0.1:host_port} to C{container_port}."""
        name = f"{self.prefix}-{len(self.names)}"
        self.names.append(name)
        args = ["run", "-d", "--name", name, *self.engine.run_options()]
        args += ["-p", f"127.0.0.1:{host_port}:{container_port}"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        if volume is not None:
            args += ["-v", f"{volume}:{DATA}"]
        self.engine([*args, self.image])
        return name

    def inspect(self, name: str, template: str) -> str:
        return self.engine(["inspect", "--format", template, name]).stdout.strip()

    def logs(self, name: str) -> str:
        result = self.engine(["logs", name])
        return result.stdout + result.stderr

    def wait_healthy(self, name: str, timeout: float = 120) -> None:
        """
        Wait until the engine reports the container healthy by its HEALTHCHECK.

        podman without systemd has no timer to run the check: run it here
        (that is what sets podman's health status).
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.inspect(name, "{{.State.Running}}") != "true":
                pytest.fail(f"{name} stopped:\n{self.logs(name)}")
            if self.engine.name == "podman":
                self.engine(["healthcheck", "run", name], check=False)
            status = self.inspect(name, "{{.State.Health.Status}}")
            if status == "healthy":
                return
            if time.monotonic() > deadline:
                pytest.fail(f"{name} is {status!r}, not healthy:\n{self.logs(name)}")
            time.sleep(1)

    def close(self) -> None:
        for name in self.names:
            self.engine(["rm", "-f", "-v", name], check=False)
        for volume in self.volumes:
            self.engine(["volume", "rm", "-f", volume], check=False)


@pytest.fixture
def containers(engine: Engine, image: str) -> Iterator[Containers]:
    made = Containers(engine, image)
    try:
        yield made
    finally:
        made.close()


def advertised(bootstrap: str) -> dict[int, tuple[str | None, int]]:
    """The brokers that Metadata (through C{bootstrap}) lists: node id to (host, port)."""
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30)
    return {node: (b.host, b.port) for node, b in metadata.brokers.items()}


def produce(bootstrap: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for key, value in RECORDS:
        producer.produce(TOPIC, value, key)
    assert producer.flush(60) == 0


def consume(bootstrap: str, group: str) -> list[tuple[bytes, bytes]]:
    """Every record of the topic, read from the start by a new group."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 60
    try:
        consumer.subscribe([TOPIC])
        while len(got) < len(RECORDS) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            key, value = message.key(), message.value()
            assert key is not None and value is not None
            got.append((key, value))
    finally:
        consumer.close()
    return got


def assert_no_plugin_cache_warning(log: str) -> None:
    lines = [line for line in log.splitlines() if any(w in line for w in PLUGIN_CACHE_WARNINGS)]
    assert lines == [], lines


def test_produce_consume_restart(containers: Containers) -> None:
    """Records go through the published port, survive a restart and a new container on the data."""
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    volume = containers.volume()
    first = containers.run(
        port, port, {"KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{bootstrap}"}, volume
    )
    containers.wait_healthy(first)
    assert containers.engine(["exec", first, "id", "-u"]).stdout.strip() == "1000"
    assert advertised(bootstrap) == {1: ("127.0.0.1", port)}
    produce(bootstrap)
    assert consume(bootstrap, "before-restart") == RECORDS

    containers.engine(["stop", "-t", "30", first], timeout=60)
    assert containers.inspect(first, "{{.State.ExitCode}}") == "0"
    containers.engine(["start", first])
    containers.wait_healthy(first)
    assert consume(bootstrap, "after-restart") == RECORDS
    log = containers.logs(first)
    assert log.count("kafkatwist listening on 0.0.0.0:") == 2, log
    assert "after a clean shutdown" in log
    assert_no_plugin_cache_warning(log)
    containers.engine(["stop", "-t", "30", first], timeout=60)

    # A new container on the same volume, published as -p OTHER:9092.
    other = free_port()
    second = containers.run(
        other,
        9092,
        {
            "KAFKA_LISTENERS": "PLAINTEXT://:9092",
            "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{other}",
        },
        volume,
    )
    containers.wait_healthy(second)
    assert consume(f"127.0.0.1:{other}", "new-container") == RECORDS
    assert_no_plugin_cache_warning(containers.logs(second))


def test_defaults_advertise_localhost(containers: Containers) -> None:
    """With no variables the image listens on 9092 and advertises localhost:9092 (-p 9092:9092)."""
    port = free_port()
    name = containers.run(port, 9092, {})
    containers.wait_healthy(name)
    assert advertised(f"127.0.0.1:{port}") == {1: ("localhost", 9092)}
    log = containers.logs(name)
    assert "listening on 0.0.0.0:9092" in log, log
    assert_no_plugin_cache_warning(log)
