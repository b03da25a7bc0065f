"""The command line: run stages against a program the way the tester does.

Each stage gets fresh files, a fresh C{<program> <server.properties>} in its
own process group (killed at the end, or when the stage times out), and its
checks. C{python -m tests.challenge.tester --help} lists the options.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from tests.challenge.tester.constants import (
    REAL_LOG_DIRECTORY,
    REAL_PORT,
    REAL_SERVER_PROPERTIES_PATH,
)
from tests.challenge.tester.context import StageContext
from tests.challenge.tester.kafka_files_generator import write_server_properties
from tests.challenge.tester.stages import STAGE_BY_SLUG, STAGES, Stage


def free_port() -> int:
    """An unused local TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_program(
    program: str, properties_path: str, output: IO[bytes] | None
) -> subprocess.Popen[bytes]:
    """Run ``<program> <server.properties>`` in its own process group."""
    return subprocess.Popen(
        [program, properties_path],
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )


def stop_program(process: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    """SIGTERM the process group, then SIGKILL after ``grace`` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


@dataclass
class StageResult:
    """The outcome of one stage, as the runner reports it."""

    slug: str
    name: str
    passed: bool
    message: str = ""
    seconds: float = 0.0


def _run_program_and_stage(
    stage: Stage,
    program: str,
    properties_path: str,
    output_file: IO[bytes] | None,
    host: str,
    port: int,
    ctx: StageContext,
) -> StageResult:
    """Start the program, run the stage under a watchdog, stop the program."""
    process = start_program(program, properties_path, output_file)
    ctx.is_alive = lambda: process.poll() is None
    ctx.restart_clock()
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        stop_program(process, grace=0.5)

    watchdog = threading.Timer(stage.timeout, on_timeout)
    watchdog.daemon = True
    watchdog.start()
    try:
        stage.run(host, port, ctx)
        return StageResult(stage.slug, stage.name, True)
    except AssertionError as error:
        message = str(error) or error.__class__.__name__
        if timed_out.is_set():
            message = f"timed out after {stage.timeout:.0f}s ({message})"
        return StageResult(stage.slug, stage.name, False, message)
    except Exception as error:  # noqa: BLE001 - report everything as a stage failure
        return StageResult(stage.slug, stage.name, False, f"{error.__class__.__name__}: {error}")
    finally:
        watchdog.cancel()
        stop_program(process)


def run_stage(
    stage: Stage,
    program: str,
    *,
    properties_path: str,
    log_dir: str,
    port: int,
    controller_port: int,
    host: str = "localhost",
    seed: int | None = None,
    strict: bool = True,
    verbose: bool = False,
) -> StageResult:
    """Write files, start the program, run the stage, stop the program."""
    started = time.monotonic()
    ctx = StageContext(
        log_dir=log_dir,
        seed=seed,
        strict=strict,
        verbose=verbose,
        timeout=stage.timeout,
    )
    write_server_properties(properties_path, log_dir, port, controller_port)
    stage.setup(ctx)
    with contextlib.ExitStack() as stack:
        output_file = None if verbose else stack.enter_context(tempfile.TemporaryFile())
        result = _run_program_and_stage(
            stage, program, properties_path, output_file, host, port, ctx
        )
        if not result.passed and output_file is not None:
            output_file.seek(0)
            tail = output_file.read()[-2000:].decode("utf-8", errors="replace").rstrip()
            if tail:
                result.message += "\n  program output (tail):\n    " + tail.replace("\n", "\n    ")
    result.seconds = time.monotonic() - started
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected stages (all by default); 0 when every one passes."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.challenge.tester",
        description="Run the CodeCrafters Kafka stages against a program.",
    )
    parser.add_argument("--program", help="executable started as '<program> <server.properties>'")
    parser.add_argument(
        "--stage",
        action="append",
        default=[],
        help="stage slug (repeatable; old slugs accepted)",
    )
    parser.add_argument(
        "--real-paths",
        action="store_true",
        help="use /tmp/server.properties, /tmp/kraft-combined-logs and port 9092",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="seed for reproducible random names/ids"
    )
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="do not fail on trailing bytes after a decoded response",
    )
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--list", action="store_true", help="list the stages and exit")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show hex of traffic and program output",
    )
    args = parser.parse_args(argv)

    if args.list:
        for stage in STAGES:
            aliases = f" (tester slug {', '.join(stage.aliases)})" if stage.aliases else ""
            print(f"{stage.slug}  {stage.extension:20s} {stage.name}{aliases}")
        return 0
    if not args.program:
        parser.error("--program is required")
    program = os.path.abspath(args.program)

    selected: list[Stage] = []
    for slug in args.stage:
        if slug not in STAGE_BY_SLUG:
            parser.error(f"unknown stage {slug!r}; use --list")
        selected.append(STAGE_BY_SLUG[slug])
    if not selected:
        selected = list(STAGES)

    temp_dir = None
    if args.real_paths:
        properties_path, log_dir, port, controller_port = (
            REAL_SERVER_PROPERTIES_PATH,
            REAL_LOG_DIRECTORY,
            REAL_PORT,
            REAL_PORT + 1,
        )
    else:
        temp_dir = tempfile.mkdtemp(prefix="kafka-stages-")
        properties_path = os.path.join(temp_dir, "server.properties")
        log_dir = os.path.join(temp_dir, "kraft-combined-logs")
        port, controller_port = free_port(), free_port()

    passed = failed = 0
    try:
        for stage in selected:
            result = run_stage(
                stage,
                program,
                properties_path=properties_path,
                log_dir=log_dir,
                port=port,
                controller_port=controller_port,
                host=args.host,
                seed=args.seed,
                strict=not args.lenient,
                verbose=args.verbose,
            )
            status = "PASS" if result.passed else "FAIL"
            line = f"{status} {result.slug} {result.name} ({result.seconds:.1f}s)"
            if not result.passed:
                line += f": {result.message}"
                failed += 1
            else:
                passed += 1
            print(line, flush=True)
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1
