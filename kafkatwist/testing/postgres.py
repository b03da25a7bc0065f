"""A real PostgreSQL server for tests: initdb in a temporary directory, on a loopback port.

L{PostgresServer} finds Debian's (or any) PostgreSQL binaries, makes a
cluster in a directory of its own with ``initdb`` (trust authentication on
127.0.0.1 only), and runs ``postgres`` on a free loopback port. PostgreSQL
refuses to run as root: as root, the cluster belongs to, and the server
runs as, the ``postgres`` user (Debian's package makes it), or ``nobody``.

C{kill()} (SIGKILL) and C{start()} again on the same directory are how the
outage tests take the database away for a few seconds: PostgreSQL recovers
from its WAL, so nothing committed is lost.

This module is plain blocking code: fixtures call it before any reactor runs.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import psycopg
from attrs import define, field

#: Where Debian's packages put the server binaries, newest first.
_DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (``apt-get install postgresql``)."""


def find_bindir() -> str:
    """
    The directory holding ``initdb`` and ``postgres``.

    C{KAFKATWIST_PG_BINDIR} wins; then Debian's ``/usr/lib/postgresql/<v>/bin``
    (the newest), then ``pg_config --bindir``, then the C{PATH}.
    """
    explicit = os.environ.get("KAFKATWIST_PG_BINDIR")
    if explicit:
        return explicit
    candidates = sorted(
        glob.glob(_DEBIAN_BINDIRS), key=lambda p: int(p.split("/")[-2].split(".")[0]), reverse=True
    )
    for bindir in candidates:
        if os.access(os.path.join(bindir, "postgres"), os.X_OK):
            return bindir
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = out.stdout.strip()
        if out.returncode == 0 and os.access(os.path.join(bindir, "postgres"), os.X_OK):
            return bindir
    found = shutil.which("postgres")
    if found:
        return os.path.dirname(found)
    raise PostgresUnavailable("no PostgreSQL server binaries: apt-get install postgresql")


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _server_user() -> pwd.struct_passwd | None:
    """The user to run the server as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root, with neither a postgres nor a nobody user")


@define
class PostgresServer:
    """
    One PostgreSQL server in C{directory} (made if None) on C{port} (free if 0).

    C{dsn} is what psycopg and C{kafkatwist.storage} take; the database is
    ``postgres``, the user ``kafkatwist``, with no password (trust on loopback).
    """

    directory: str | None = None
    port: int = 0
    user: str = "kafkatwist"
    #: Extra ``-c name=value`` settings for the server.
    settings: dict[str, str] = field(factory=dict)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _owned_directory: bool = field(default=False, init=False)
    _bindir: str = field(default="", init=False)

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """The DSN of another database of this server."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> str:
        assert self.directory is not None
        return os.path.join(self.directory, "data")

    @staticmethod
    def _demote() -> tuple[int | None, int | None, list[int] | None]:
        """Popen's C{user}, C{group} and C{extra_groups} for the server user (when root)."""
        user = _server_user()
        if user is None:
            return None, None, None
        return user.pw_uid, user.pw_gid, []

    def init(self) -> None:
        """Make the directory and the cluster (``initdb``), once."""
        self._bindir = self._bindir or find_bindir()
        if self.directory is None:
            self.directory = tempfile.mkdtemp(prefix="kafkatwist-pg-")
            self._owned_directory = True
        if os.path.exists(os.path.join(self.data_dir, "PG_VERSION")):
            return
        os.makedirs(self.data_dir, exist_ok=True)
        user = _server_user()
        if user is not None:
            os.chmod(self.directory, 0o755)
            for path in (self.directory, self.data_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        os.chmod(self.data_dir, 0o700)
        uid, gid, groups = self._demote()
        subprocess.run(
            [
                os.path.join(self._bindir, "initdb"),
                "-D",
                self.data_dir,
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=self.directory,
            user=uid,
            group=gid,
            extra_groups=groups,
        )

    def start(self, timeout: float = 30.0) -> str:
        """Start the server (initdb first if needed) and wait until it accepts connections."""
        self.init()
        if self.port == 0:
            self.port = free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": "200",
            "shared_buffers": "64MB",
            "fsync": "on",
            "logging_collector": "off",
            **self.settings,
        }
        argv = [os.path.join(self._bindir, "postgres"), "-D", self.data_dir]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        assert self.directory is not None
        log = open(os.path.join(self.directory, "server.log"), "ab")  # noqa: SIM115
        uid, gid, groups = self._demote()
        self._process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            start_new_session=True,
            user=uid,
            group=gid,
            extra_groups=groups,
        )
        log.close()
        self._wait_ready(timeout)
        return self.dsn

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self._process.returncode}: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if self._accepts_queries():
                return
            time.sleep(0.05)
        raise RuntimeError(f"postgres did not start in {timeout} s: {self.log()}")

    def _accepts_queries(self) -> bool:
        out = subprocess.run(
            [os.path.join(self._bindir, "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
            check=False,
        )
        return out.returncode == 0

    def log(self) -> str:
        """The server's log so far (its last 4 KiB)."""
        if self.directory is None:
            return ""
        try:
            with open(os.path.join(self.directory, "server.log"), "rb") as f:
                return f.read()[-4096:].decode("utf-8", "replace")
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends (a crash: WAL recovery on the next start)."""
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait()
        self._process = None
        # The backends may outlive the postmaster for a moment; the next start waits for them.
        time.sleep(0.2)

    def stop(self) -> None:
        """A fast shutdown (SIGINT), waiting for it."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self._process = None

    def create_database(self, name: str) -> str:
        """Create database C{name} (if missing); return its DSN."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database C{name}, ending its connections."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        """Stop the server and remove a directory it made."""
        self.stop()
        if self._owned_directory and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
