"""The protocol trace: each request and response decoded, as JSON lines (issue 16).

Off by default. On (the twistd option C{--trace}, or C{kafkatwist.trace.enable=true}),
L{install_trace} registers a L{TraceHook} in the broker's request hooks; off, nothing
is registered and the request path does not change. What a line holds:
L{kafkatwist.trace.hook}; how bodies are rendered: L{kafkatwist.trace.render}.
"""

from __future__ import annotations

from twisted.logger import Logger

from kafkatwist.apis import REGISTRY
from kafkatwist.clock import ReactorTime, RunBlocking
from kafkatwist.config.trace_config import TraceConfig
from kafkatwist.hooks import RequestHook
from kafkatwist.trace.hook import TraceFilter, TraceHook
from kafkatwist.trace.sink import FileSink, LogSink, Sink

__all__ = ["TraceFilter", "TraceHook", "install_trace"]

_log = Logger()


def install_trace(
    config: TraceConfig, hooks: list[RequestHook], clock: ReactorTime, run_blocking: RunBlocking
) -> TraceHook | None:
    """
    Register the trace C{config} asks for at the end of C{hooks}; None when it is off.

    Its lines go to C{config.file}, appended by C{run_blocking} jobs (a few a second, timed by
    C{clock}), or to the Twisted log.
    Names in C{kafkatwist.trace.apis} that no API has are logged once (they match nothing).
    """
    if not config.enable:
        return None
    known = {spec.name.lower() for spec in REGISTRY} | {str(spec.api_key) for spec in REGISTRY}
    unknown = sorted(config.apis - known)
    if unknown:
        _log.warn(
            "kafkatwist.trace.apis: no API is named {names}; they match nothing",
            names=", ".join(unknown),
        )
    sink: Sink = LogSink() if config.file is None else FileSink(config.file, run_blocking, clock)
    hook = TraceHook.from_config(config, clock, sink)
    hooks.append(hook)
    return hook
