"""README's SASL_SSL SCRAM snippets work as pasted: server.properties, the user, three clients.

As in L{test_readme_tls}: only the certificate paths, the log directory and
the port change. The broker is a twistd process; the SCRAM user is made by
running README's Python snippet, then librdkafka (the client properties),
the Java client 4.3 (its client.properties) and kafka-python (README's
snippet) produce and consume over SASL_SSL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest_twisted

from kafkatwist.config.java_properties import parse_properties
from tests.integration import confluent_clients as cc
from tests.integration.child import ChildBroker
from tests.integration.harness import in_thread, run_java
from tests.integration.test_readme_tls import client_settings, localize, round_trip, snippet, start
from tests.security.certs import make_pki


def run_python(label: str, pki_dir: str, port: int) -> None:
    """Run README's Python snippet C{label} with the test's paths and port."""
    code = localize(snippet(label, "python"), pki_dir, port)
    exec(compile(code, f"README.md:{label}", "exec"), {})


@pytest_twisted.ensureDeferred
async def test_readme_sasl_ssl(tmp_path: Path) -> None:
    """The SASL_SSL SCRAM-SHA-512 server.properties, user creation and client settings work."""
    pki = make_pki(str(tmp_path / "pki"))
    server = localize(snippet("sasl-ssl-server"), pki.directory, 0)
    child: ChildBroker = await in_thread(start, tmp_path, server)
    try:
        port = child.port
        await in_thread(run_python, "sasl-ssl-create-user", pki.directory, port)
        client = client_settings("sasl-ssl-client", pki.directory, port)
        assert await in_thread(round_trip, client) == [b"m0", b"m1", b"m2"]
        await in_thread(run_python, "sasl-ssl-kafka-python", pki.directory, port)
        extra: dict[str, Any] = {k: v for k, v in client.items() if k != "bootstrap.servers"}
        got = await in_thread(cc.consume, child.bootstrap, [("orders", 0, 0)], 1, extra=extra)
        assert [cc.value_of(m) for m in got] == [b"hello"]
        java = parse_properties(localize(snippet("sasl-ssl-java-client"), pki.directory, port))
        settings = [f"{key}={value}" for key, value in java.items()]
        classes = tmp_path / "classes"
        classes.mkdir()
        lines = await run_java(
            "TlsClient", [child.bootstrap, "readme-java", *settings], str(classes)
        )
        assert lines == [f"node 127.0.0.1:{port}", "produced 3", "consumed java0,java1,java2"]
    finally:
        assert child.terminate() == 0
    assert "failed authentication" not in child.output()
