"""State shared by a stage's setup and run steps: paths, seed, strictness and the stage clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.challenge.tester.constants import READ_WINDOW_SECONDS, STAGE_TIMEOUT_SECONDS
from tests.challenge.tester.kafka_files_generator import LogDirLayout
from tests.challenge.tester.tester_random import TesterRandom


@dataclass
class StageContext:
    """State shared by a stage's setup and run steps."""

    log_dir: str
    seed: int | None = None
    strict: bool = True
    read_window: float = READ_WINDOW_SECONDS
    timeout: float = STAGE_TIMEOUT_SECONDS
    verbose: bool = False
    is_alive: Callable[[], bool] | None = None
    layout: LogDirLayout | None = None
    params: dict[str, str] = field(default_factory=dict)
    rand: TesterRandom = field(init=False)
    started_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.rand = TesterRandom(self.seed)

    def remaining(self) -> float:
        """Seconds left before the stage times out."""
        return self.timeout - (time.monotonic() - self.started_at)

    def restart_clock(self) -> None:
        """Start the stage timer (called when the program is started)."""
        self.started_at = time.monotonic()

    def log(self, message: str) -> None:
        """Print C{message} when verbose."""
        if self.verbose:
            print(f"    {message}", flush=True)
