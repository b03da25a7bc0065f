"""A blocking client connection that reads responses the way the tester's client does."""

from __future__ import annotations

import socket
import time
from typing import Self

from tests.challenge.tester.context import StageContext


class KafkaConnection:
    """A blocking client connection that reads responses the way the tester does."""

    def __init__(self, sock: socket.socket, ctx: StageContext) -> None:
        self.sock = sock
        self.ctx = ctx

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        ctx: StageContext,
        retries: int = 10,
        interval: float = 1.0,
    ) -> KafkaConnection:
        """ConnectWithRetries: retry every second, fail early if the program exited."""
        attempt = 0
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=max(0.1, ctx.remaining()))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                ctx.log(f"connected to {host}:{port}")
                return cls(sock, ctx)
            except OSError as error:
                if ctx.is_alive is not None and not ctx.is_alive():
                    raise AssertionError(
                        "Looks like your program has terminated. "
                        "A Kafka server is expected to be a long-running process."
                    ) from error
                if attempt > retries or ctx.remaining() <= interval:
                    raise AssertionError(f"could not connect to {host}:{port}: {error}") from error
                attempt += 1
                time.sleep(interval)

    def send(self, message: bytes) -> None:
        """Write one request."""
        self.ctx.log(f"-> {message.hex(' ')}")
        self.sock.settimeout(max(0.1, min(1.0, self.ctx.remaining())))
        try:
            self.sock.sendall(message)
        except OSError as error:
            raise AssertionError(f"error writing to connection: {error}") from error

    def receive(self) -> bytes:
        """Block for the first bytes, then collect whatever arrives within the read window."""
        chunks: list[bytes] = []
        self.sock.settimeout(max(0.05, self.ctx.remaining()))
        try:
            first = self.sock.recv(4)
        except TimeoutError as error:
            raise AssertionError("timed out waiting for a response") from error
        except OSError as error:
            raise AssertionError(f"error reading from connection: {error}") from error
        if not first:
            raise AssertionError("connection closed by the broker before any response bytes")
        chunks.append(first)
        deadline = time.monotonic() + self.ctx.read_window
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                break
            except OSError as error:
                raise AssertionError(f"error reading from connection: {error}") from error
            if not chunk:
                break
            chunks.append(chunk)
        raw = b"".join(chunks)
        self.ctx.log(f"<- {raw.hex(' ')}")
        return raw

    def send_and_receive(self, message: bytes) -> bytes:
        """Send one request and read its response."""
        self.send(message)
        return self.receive()

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def __enter__(self) -> Self:
        """Use the connection as a context manager that closes it."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the connection."""
        self.close()
