"""Stage rates from the counts the pipeline panel samples."""

from __future__ import annotations

from torghut_operator_console.adapters.watch import ServiceWatch


def test_a_rate_is_the_count_difference_over_the_last_ten_seconds_or_so() -> None:
    watch = ServiceWatch({}, "127.0.0.1:1", "", 1.0)
    assert watch.rate("signals") is None
    watch.sample_counts({"signals": 0}, now=0.0)
    assert watch.rate("signals") is None
    for second in range(1, 21):
        watch.sample_counts({"signals": 100 * second}, now=float(second))
    assert watch.rate("signals") == 100.0
    assert watch.rate("fills") == 0.0
