"""Process tests of the metrics listener: twistd with C{--override kafkatwist.metrics.listener}."""

from __future__ import annotations

import socket
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.child import ChildBroker, assert_one_line, free_port, run_to_exit, twistd
from tests.integration.harness import http_get


def test_served_by_the_process(tmp_path: Path) -> None:
    """The started broker logs where the metrics are; /healthz is ok and /metrics parses."""
    metrics_port = free_port()
    child = ChildBroker(
        str(tmp_path / "logs"),
        free_port(),
        ["--override", f"kafkatwist.metrics.listener=http://127.0.0.1:{metrics_port}"],
    )
    child.start()
    try:
        assert (
            f"kafkatwist metrics on http://127.0.0.1:{metrics_port}/metrics and /healthz"
            in child.output()
        )
        assert http_get(f"http://127.0.0.1:{metrics_port}/healthz") == (200, b"ok\n")
        status, body = http_get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        names = {f.name for f in text_string_to_metric_families(body.decode())}
        assert {
            "kafka_server_brokertopicmetrics_bytesin",
            "kafka_network_requestmetrics_requests",
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            "process_cpu_seconds",
        } <= names
    finally:
        assert child.terminate() == 0


def test_metrics_port_in_use(tmp_path: Path) -> None:
    """A metrics port already in use stops the start: exit 1, one line naming the address."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = twistd(
            f"--log-dirs={tmp_path / 'logs'}",
            "--listen=tcp:0:interface=127.0.0.1",
            "--override",
            f"kafkatwist.metrics.listener=127.0.0.1:{port}",
        )
        status, lines = run_to_exit(command, tmp_path, 30)
    assert_one_line(status, lines, f"cannot listen on 127.0.0.1:{port}: Address already in use")
