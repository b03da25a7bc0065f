"""A windowed rate with an upper-bound quota, as Kafka's client metrics measure one.

Kafka's quota sensors (C{org.apache.kafka.common.metrics}) record values in a
C{Rate} over a C{WindowedSum}, a C{SampledStat} of C{quota.window.num}
samples of C{quota.window.size.seconds} each, plus one extra "overlapping"
sample; after each record the sensor checks the measured rate against the
quota (C{Sensor.checkQuotas}, C{Quota.acceptable}) and, over it, the quota
manager turns the excess into a throttle time (C{QuotaUtils.throttleTime}).
L{Rate} keeps the same samples with the same rules, so the same sequence of
records at the same times measures the same rate:

* C{SampledStat.record}: the current sample is complete once C{window} ms
  have passed since it started; then the next slot (of C{samples + 1}) is
  reset and takes the value;
* C{SampledStat.purgeObsoleteSamples}: a sample whose last event is at least
  C{samples * window} ms old is reset to start now;
* C{Rate.windowSize}: the time since the oldest sample started, raised to
  C{samples - 1} full windows when less elapsed (so a new sensor is not
  measured over a few milliseconds), and at least 1 ms;
* C{Rate.measure}: the sum of the samples over that window, per second.
"""

from __future__ import annotations

import math

from attrs import define, field, frozen


@frozen
class QuotaWindow:
    """
    Kafka's C{MetricConfig} for quota sensors: the number of samples and their length.

    @ivar samples: C{quota.window.num} (Kafka's default: 11).
    @ivar window_ms: C{quota.window.size.seconds} in ms (Kafka's default: 1 s).
    """

    samples: int = 11
    window_ms: int = 1000


@define
class _Sample:
    """One sample of a C{WindowedSum} (Kafka's C{SampledStat.Sample})."""

    start_ms: int
    last_event_ms: int
    value: float = 0.0

    def reset(self, now_ms: int) -> None:
        self.start_ms = now_ms
        self.last_event_ms = now_ms
        self.value = 0.0


@define
class Rate:
    """A C{Rate(WindowedSum)}: values recorded per second over the sampled windows."""

    _window: QuotaWindow
    _samples: list[_Sample] = field(factory=list, init=False)
    _current: int = field(default=0, init=False)

    @property
    def last_recorded_ms(self) -> int:
        """When a value was last recorded (the newest sample's last event)."""
        return max((s.last_event_ms for s in self._samples), default=0)

    def _current_sample(self, now_ms: int) -> _Sample:
        if not self._samples:
            self._samples.append(_Sample(now_ms, now_ms))
        return self._samples[self._current]

    def record(self, value: float, now_ms: int) -> None:
        """Add C{value} at C{now_ms} (Kafka's C{SampledStat.record})."""
        sample = self._current_sample(now_ms)
        if now_ms - sample.start_ms >= self._window.window_ms:
            # One placeholder more than the samples, for the sample overlapping the window.
            self._current = (self._current + 1) % (self._window.samples + 1)
            if self._current >= len(self._samples):
                sample = _Sample(now_ms, now_ms)
                self._samples.append(sample)
            else:
                sample = self._samples[self._current]
                sample.reset(now_ms)
        sample.value += value
        sample.last_event_ms = now_ms

    def _purge(self, now_ms: int) -> None:
        expire = self._window.samples * self._window.window_ms
        for sample in self._samples:
            if now_ms - sample.last_event_ms >= expire:
                sample.reset(now_ms)

    def window_size_ms(self, now_ms: int) -> int:
        """The time the rate is measured over (Kafka's C{Rate.windowSize})."""
        self._purge(now_ms)
        if not self._samples:
            self._samples.append(_Sample(now_ms, now_ms))
        oldest = min(s.start_ms for s in self._samples)
        elapsed = now_ms - oldest
        window = self._window.window_ms
        full = elapsed // window
        minimum = self._window.samples - 1
        if full < minimum:
            elapsed += (minimum - full) * window
        return max(elapsed, 1)

    def measure(self, now_ms: int) -> float:
        """The rate per second at C{now_ms} (Kafka's C{Rate.measure})."""
        self._purge(now_ms)
        total = sum(s.value for s in self._samples)
        return total / (self.window_size_ms(now_ms) / 1000.0)


#: The largest C{throttle_time_ms} a response can carry.
INT32_MAX = 2**31 - 1


def throttle_time_ms(observed: float, bound: float, window_ms: int) -> int:
    """
    The delay that brings C{observed} back to C{bound} (Kafka's C{QuotaUtils.throttleTime}).

    If O is the observed rate and T the quota over a window of W, a delay X
    such that C{O * W / (W + X) = T} is C{X = (O - T) / T * W}, rounded
    half up to whole milliseconds (Java's C{Math.round}), and at most the
    largest int32 (the responses' C{throttle_time_ms}); a bound that is not a
    positive finite number (none should be stored) throttles nothing.
    """
    if not (math.isfinite(bound) and bound > 0 and math.isfinite(observed)):
        return 0
    return min(math.floor((observed - bound) / bound * window_ms + 0.5), INT32_MAX)


@define
class QuotaSensor:
    """
    A rate with a quota: records a value and says how long to throttle (Kafka's quota C{Sensor}).

    The quota (C{bound}) is set by the quota manager and may change while
    the sensor lives (Kafka's C{updateQuotaMetricConfigs}).
    """

    rate: Rate
    bound: float

    def record(self, value: float, now_ms: int, check: bool = True) -> int:
        """
        Record C{value}; the throttle time in ms if the rate is now over the quota, else 0.

        As C{Sensor.record(value, timeMs, checkQuotas)} followed by the
        quota manager's C{throttleTime} on a C{QuotaViolationException}.
        """
        self.rate.record(value, now_ms)
        if not check:
            return 0
        observed = self.rate.measure(now_ms)
        if observed <= self.bound:
            return 0
        return throttle_time_ms(observed, self.bound, self.rate.window_size_ms(now_ms))


__all__ = ["QuotaSensor", "QuotaWindow", "Rate", "throttle_time_ms"]
