"""Process tests: a broker that cannot start exits non-zero with one line saying why.

Each test runs the real program, ``./your_program.sh`` or ``twistd -n
kafkatwist``, as a child process and checks its exit status and output:
exactly one line names the cause (and the key, path, address or listener),
with no traceback and no usage text. Covers unusable log dirs, a port in
use and config errors (issue 10 item 6), the log-dir lock (item 7),
listener security protocols (item 8) and options after the properties
file (item 9).
"""

from __future__ import annotations

import ctypes
import os
import socket
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.child import (
    REPO,
    ChildBroker,
    assert_one_line,
    child_env,
    free_port,
    run_to_exit,
    twistd,
)

#: How long a child may take to fail (it fails before or right after loading).
TIMEOUT = 30.0

_YOUR_PROGRAM = REPO / "your_program.sh"

Launcher = Callable[..., list[str]]


def _your_program(*args: str) -> list[str]:
    if not (REPO / ".venv" / "bin" / "twistd").exists():
        pytest.skip("your_program.sh has not created .venv yet (it would install it)")
    return [str(_YOUR_PROGRAM), *args]


@pytest.fixture(params=["twistd", "your_program.sh"])
def launcher(request: pytest.FixtureRequest) -> Launcher:
    """Both ways to start the broker: twistd's plugin and the CodeCrafters entry point."""
    return twistd if request.param == "twistd" else _your_program


def _run(
    command: list[str], cwd: Path, preexec_fn: Callable[[], None] | None = None
) -> tuple[int, list[str]]:
    """Run C{command} to its end (at most L{TIMEOUT}); its exit status and output lines."""
    return run_to_exit(command, cwd, TIMEOUT, preexec_fn)


def _properties(tmp_path: Path, text: str) -> str:
    path = tmp_path / "server.properties"
    path.write_text(text)
    return str(path)


# --- item 6: start-up failures -------------------------------------------------


def test_log_dir_is_a_file(tmp_path: Path) -> None:
    """A log dir that is a regular file: exit 1, one line naming the path."""
    path = tmp_path / "logs"
    path.write_text("")
    status, lines = _run(
        twistd(f"--log-dirs={path}", "--listen=tcp:0:interface=127.0.0.1"), tmp_path
    )
    assert_one_line(status, lines, f"cannot use log dir {path}: Not a directory")


def test_log_dir_cannot_be_created(tmp_path: Path) -> None:
    """A log dir below a regular file cannot be created: exit 1, one line naming it."""
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "logs"
    status, lines = _run(twistd(f"--log-dirs={path}", "--listen=tcp:0"), tmp_path)
    assert_one_line(status, lines, f"cannot use log dir {path}: Not a directory")


def _without_dac_override() -> None:
    """In the child: drop root's power to write where permissions say no (as a non-root user)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An existing directory the broker may not write to, like a root-owned bind mount."""
    path = tmp_path / "read-only"
    path.mkdir()
    path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    yield path
    path.chmod(stat.S_IRWXU)


def test_log_dir_not_writable(tmp_path: Path, read_only_dir: Path) -> None:
    """A log dir the broker cannot write (as root: without CAP_DAC_OVERRIDE): exit 1, one line."""
    preexec = _without_dac_override if os.geteuid() == 0 else None
    command = twistd(f"--log-dirs={read_only_dir}", "--listen=tcp:0:interface=127.0.0.1")
    try:
        status, lines = _run(command, tmp_path, preexec)
    except subprocess.TimeoutExpired:
        raise
    except subprocess.SubprocessError as e:  # preexec_fn failed: no CAP_SETPCAP
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE here: {e}")
    assert_one_line(status, lines, f"cannot use log dir {read_only_dir}: Permission denied")


def test_port_in_use(tmp_path: Path, launcher: Launcher) -> None:
    """A port already in use: exit 1 (not 0), one line naming the address."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = launcher(
            f"--log-dirs={tmp_path / 'logs'}", f"--listen=tcp:{port}:interface=127.0.0.1"
        )
        status, lines = _run(command, tmp_path)
    assert_one_line(status, lines, f"cannot listen on 127.0.0.1:{port}: Address already in use")


def test_config_error_is_one_line(tmp_path: Path, launcher: Launcher) -> None:
    """A bad value in server.properties: exit 1 and only one line, naming file and key."""
    path = _properties(tmp_path, "log.retention.ms=soon\n")
    status, lines = _run(launcher(path), tmp_path)
    line = assert_one_line(status, lines, path, "log.retention.ms", "'soon'")
    assert lines == [line]


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            "authorizer.class.name=kafka.security.authorizer.AclAuthorizer\n",
            ("authorizer.class.name", "AclAuthorizer cannot be found"),
        ),
        (
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
            "super.users=User:admin;bob\n",
            ("super.users", "principalType:principalName but got bob"),
        ),
    ],
)
def test_authorizer_config_refused(tmp_path: Path, text: str, needles: tuple[str, ...]) -> None:
    """An authorizer Kafka 4 lacks, or a super user that is no principal: exit 1, one line."""
    path = _properties(tmp_path, f"log.dirs={tmp_path / 'logs'}\n{text}")
    status, lines = _run(twistd(path), tmp_path)
    line = assert_one_line(status, lines, path, *needles)
    assert lines == [line]


def test_bad_override_after_file(tmp_path: Path) -> None:
    """A bad --override after the file is reported like one in the file (one line, exit 1)."""
    path = _properties(tmp_path, f"log.dirs={tmp_path / 'logs'}\n")
    status, lines = _run(twistd(path, "--override", "num.partitions=0"), tmp_path)
    line = assert_one_line(status, lines, "num.partitions")
    assert lines == [line]


# --- item 7: one broker per log directory ----------------------------------------


def test_second_broker_on_same_log_dir(tmp_path: Path, launcher: Launcher) -> None:
    """A second broker on a running broker's log dirs exits 1 naming the locked directory."""
    shared, other = tmp_path / "shared", tmp_path / "other"
    first = ChildBroker(str(shared))
    first.start()
    try:
        command = launcher(f"--log-dirs={other},{shared}", "--listen=tcp:0:interface=127.0.0.1")
        status, lines = _run(command, tmp_path)
        assert_one_line(status, lines, f"Failed to acquire lock on file .lock in {shared}.")
        assert first.process is not None and first.process.poll() is None
        assert first.terminate() == 0
        # Released on stop (and by the kernel on a crash): the directory is usable again.
        again = ChildBroker(str(shared))
        again.start()
        again.kill()
        third = ChildBroker(str(shared))
        third.start()
        assert third.terminate() == 0
    finally:
        first.kill()


# --- item 8: listener security protocols -------------------------------------------


@pytest.mark.parametrize(
    ("listeners", "needles"),
    [
        ("SSL://127.0.0.1:0", ("listener SSL: an SSL listener needs a key store",)),
        ("SASL_SSL://127.0.0.1:0", ("listener SASL_SSL enables SASL mechanisms GSSAPI",)),
        (
            "SASL_PLAINTEXT://127.0.0.1:0",
            ("listener SASL_PLAINTEXT enables SASL mechanisms GSSAPI",),
        ),
        ("http://127.0.0.1:0", ("No security protocol defined for listener HTTP",)),
        ("FOO://127.0.0.1:0", ("No security protocol defined for listener FOO",)),
    ],
)
def test_listener_protocols_refused(tmp_path: Path, listeners: str, needles: tuple[str]) -> None:
    """
    Listeners that cannot be served (TLS without a key store, SASL with only Kafka's default
    GSSAPI), or that the map does not name, stop start-up.
    """
    path = _properties(tmp_path, f"listeners={listeners}\nlog.dirs={tmp_path / 'logs'}\n")
    status, lines = _run(twistd(path), tmp_path)
    line = assert_one_line(status, lines, *needles)
    assert lines == [line]
    assert not (tmp_path / "logs").exists()


def test_mapped_listener_name_is_served(tmp_path: Path) -> None:
    """A listener named in listener.security.protocol.map as PLAINTEXT is served."""
    port = free_port()
    path = _properties(
        tmp_path,
        f"listeners=CLIENT://127.0.0.1:{port}\nlistener.security.protocol.map=CLIENT:PLAINTEXT\n",
    )
    child = ChildBroker(str(tmp_path / "logs"))
    child.extra = [path]
    child.start()
    try:
        with socket.create_connection(("127.0.0.1", child.port), timeout=5):
            pass
    finally:
        assert child.terminate() == 0


# --- item 9: options after the properties file ---------------------------------------


def test_override_after_file(tmp_path: Path, launcher: Launcher) -> None:
    """``server.properties --override k=v`` (Kafka's order) starts with the override applied."""
    port = free_port()
    path = _properties(tmp_path, f"log.dirs={tmp_path / 'logs'}\nlisteners=PLAINTEXT://:9092\n")
    command = launcher(path, "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}")
    process = subprocess.Popen(
        command,
        cwd=str(tmp_path),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    watchdog = threading.Timer(TIMEOUT, process.kill)
    watchdog.start()
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "kafkatwist listening on" in line:
                assert f"127.0.0.1:{port} " in line, line
                break
        else:
            raise AssertionError("".join(seen))
    finally:
        watchdog.cancel()
        process.terminate()
        process.wait(TIMEOUT)
