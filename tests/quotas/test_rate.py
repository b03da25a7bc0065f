"""The quota rate and throttle time, checked against Kafka's formulas worked by hand.

Kafka's quota sensor (C{Rate} over a C{WindowedSum}, C{MetricConfig} of
C{quota.window.num} samples of C{quota.window.size.seconds}) measures

    rate = sum of the live samples / window,
    window = max(now - start of the oldest sample, (samples - 1) * size),

and over a quota T the throttle is C{X = (O - T) / T * W}
(C{QuotaUtils.throttleTime}), rounded as Java's C{Math.round}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.quotas.rate import QuotaSensor, QuotaWindow, Rate, throttle_time_ms

DEFAULT = QuotaWindow()  # 11 samples of 1 s, Kafka's defaults


class RateTests(SynchronousTestCase):
    """Kafka's C{Rate.measure} and C{Rate.windowSize}."""

    def test_new_sensor_measures_over_ten_windows(self) -> None:
        """
        A first record is spread over (11 - 1) windows of 1 s.

        20000 bytes at t=0: elapsed 0 ms is less than 10 full windows, so the
        window is 0 + 10 * 1000 = 10000 ms and the rate 20000 / 10 s = 2000/s.
        """
        rate = Rate(DEFAULT)
        rate.record(20000, 0)
        self.assertEqual(rate.window_size_ms(0), 10000)
        self.assertEqual(rate.measure(0), 2000.0)

    def test_elapsed_time_beyond_the_minimum_window_counts(self) -> None:
        """
        Eleven records of 1000 bytes, one a second from t=0 to t=10 s, measure 1100/s.

        At t=10000 the oldest sample started at 0: 10000 ms elapsed, 10 full
        windows (not fewer than 10), so W = 10000 ms; the samples hold
        11 * 1000 bytes: 11000 / 10 s = 1100/s.
        """
        rate = Rate(DEFAULT)
        for second in range(11):
            rate.record(1000, second * 1000)
        self.assertEqual(rate.window_size_ms(10000), 10000)
        self.assertEqual(rate.measure(10000), 1100.0)

    def test_obsolete_samples_are_purged(self) -> None:
        """
        A sample whose last event is 11 windows old no longer counts.

        5000 bytes at t=0, measured at t=11000: 11000 - 0 >= 11 * 1000, so the
        sample is reset to start at 11000 with nothing in it: the rate is 0.
        """
        rate = Rate(DEFAULT)
        rate.record(5000, 0)
        self.assertEqual(rate.measure(10000), 500.0)
        self.assertEqual(rate.measure(11000), 0.0)

    def test_overlapping_sample_is_kept(self) -> None:
        """
        With 2 samples of 1 s there are 3 slots; the oldest is dropped once 2 s old.

        100 bytes at 0, 1000 and 2000 ms: at 2000 the first sample (last event
        at 0) is 2 * 1000 ms old and purged; the oldest left started at 1000,
        so W = 1000 ms (one full window, the minimum of 2 - 1) and the rate is
        200 bytes / 1 s.
        """
        rate = Rate(QuotaWindow(samples=2, window_ms=1000))
        for t in (0, 1000, 2000):
            rate.record(100, t)
        self.assertEqual(rate.window_size_ms(2000), 1000)
        self.assertEqual(rate.measure(2000), 200.0)

    def test_a_sample_closes_after_its_window(self) -> None:
        """
        Records within one window share a sample; the next window starts a new one.

        With 2 samples of 1 s: 100 at 0 and 100 at 999 go to the first
        sample, 100 at 1000 starts the second. At 2000 the first sample's last
        event (999) is 1001 ms old, less than 2000: both count, 300 bytes over
        2000 - 0 = 2000 ms (2 full windows): 150/s.
        """
        rate = Rate(QuotaWindow(samples=2, window_ms=1000))
        for t in (0, 999, 1000):
            rate.record(100, t)
        self.assertEqual(rate.measure(2000), 150.0)


class ThrottleTimeTests(SynchronousTestCase):
    """Kafka's C{QuotaUtils.throttleTime}: X = (O - T) / T * W."""

    def test_formula(self) -> None:
        """O = 2000/s, T = 1000/s, W = 10000 ms: X = 1000 / 1000 * 10000 = 10000 ms."""
        self.assertEqual(throttle_time_ms(2000, 1000, 10000), 10000)

    def test_rounds_half_up(self) -> None:
        """X = 0.5 / 1000 * 1000 = 0.5 ms rounds to 1 (Java's Math.round), 0.25 ms to 0."""
        self.assertEqual(throttle_time_ms(1000.5, 1000, 1000), 1)
        self.assertEqual(throttle_time_ms(1000.25, 1000, 1000), 0)

    def test_bounded_by_int32(self) -> None:
        """A 25 MB request against 10 B/s over 11 s would be 2.75e10 ms: capped at 2**31 - 1."""
        self.assertEqual(throttle_time_ms(25_000_000 / 11, 10, 11_000), 2**31 - 1)

    def test_bad_bound_throttles_nothing(self) -> None:
        """A bound that is NaN, infinite or not positive never throttles (nor raises)."""
        for bound in (float("nan"), float("inf"), 0.0):
            self.assertEqual(throttle_time_ms(5000, bound, 1000), 0)
        self.assertEqual(throttle_time_ms(float("nan"), 1000, 1000), 0)


class QuotaSensorTests(SynchronousTestCase):
    """Recording against a quota, as C{Sensor.record} then C{checkQuotas}."""

    def test_within_quota(self) -> None:
        """10000 bytes at t=0 against 1000/s measure 1000/s: not over (C{value <= bound})."""
        sensor = QuotaSensor(Rate(DEFAULT), 1000.0)
        self.assertEqual(sensor.record(10000, 0), 0)

    def test_over_quota(self) -> None:
        """
        5000 then 6000 bytes against 1000/s: the second is throttled 500 ms.

        At t=500: 500 ms elapsed, no full window, so W = 500 + 10 * 1000 =
        10500 ms and O = 11000 / 10.5 s; X = (O - 1000) / 1000 * 10500
        = (11000 - 10500) / 1000 s = 500 ms.
        """
        sensor = QuotaSensor(Rate(DEFAULT), 1000.0)
        self.assertEqual(sensor.record(5000, 0), 0)
        self.assertEqual(sensor.record(6000, 500), 500)

    def test_unchecked_record(self) -> None:
        """A record without the check (an unrecord) never throttles, and takes its value back."""
        sensor = QuotaSensor(Rate(DEFAULT), 1000.0)
        self.assertEqual(sensor.record(20000, 0, check=False), 0)
        sensor.record(-20000, 0, check=False)
        self.assertEqual(sensor.rate.measure(0), 0.0)
