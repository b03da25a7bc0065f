"""Tests for L{kafkatwist.wire.schema}: every generated message round-trips at every version."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from twisted.trial.unittest import SynchronousTestCase

from kafkatwist import messages
from tests.strategies import instances, top_level_classes, valid_versions

from .support import round_trip

#: Examples per (class, version) in the round-trip sweep; the whole sweep of
#: about 730 (class, version) pairs stays around ten seconds.
SWEEP_EXAMPLES = 6

_SWEEP = settings(
    max_examples=SWEEP_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _round_trip_check(test: SynchronousTestCase, cls: type, version: int) -> Callable[[], None]:
    @_SWEEP
    @given(instances(cls, version))
    def check(obj: object) -> None:
        round_trip(test, cls, version, obj)

    return check


def _sweep_module(module_name: str) -> Callable[[SynchronousTestCase], None]:
    def test(self: SynchronousTestCase) -> None:
        classes = [cls for name, cls in top_level_classes() if name == module_name]
        self.assertTrue(classes)
        for cls in classes:
            for version in valid_versions(cls):
                _round_trip_check(self, cls, version)()

    test.__name__ = f"test_{module_name}"
    test.__doc__ = (
        f"Every message of {module_name} round-trips at every version in its valid range."
    )
    return test


class RoundTripSweepTests(SynchronousTestCase):
    """Hypothesis instances of every generated message survive encode then decode."""

    for _name in messages.MODULES:
        locals()[f"test_{_name}"] = _sweep_module(_name)
    del _name

    def test_sweep_covers_every_module(self) -> None:
        """The sweep has one test per generated module, and every module has a schema."""
        names = {name for name, _ in top_level_classes()}
        self.assertEqual(names, set(messages.MODULES))
        for name in messages.MODULES:
            self.assertTrue(callable(getattr(self, f"test_{name}")))
