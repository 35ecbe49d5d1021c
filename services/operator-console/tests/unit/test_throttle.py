"""Login throttling: an address that keeps failing waits; others and a successful login do not."""

from __future__ import annotations

from torghut_operator_console.domain.throttle import LoginThrottle


def test_the_limit_th_failure_makes_the_address_wait_until_the_oldest_leaves_the_window() -> None:
    throttle = LoginThrottle(limit=3, window_s=60)
    for at in (0.0, 10.0):
        throttle.failed("10.0.0.1", at)
        assert throttle.retry_after("10.0.0.1", at) is None
    throttle.failed("10.0.0.1", 20.0)
    assert throttle.retry_after("10.0.0.1", 20.0) == 40.0
    assert throttle.retry_after("10.0.0.1", 59.0) == 1.0
    assert throttle.retry_after("10.0.0.1", 60.0) is None, "the first failure left the window"
    assert throttle.retry_after("10.0.0.2", 20.0) is None, "another address is not throttled"


def test_a_successful_login_clears_the_count() -> None:
    throttle = LoginThrottle(limit=2, window_s=60)
    throttle.failed("a", 0.0)
    throttle.succeeded("a")
    throttle.failed("a", 1.0)
    assert throttle.retry_after("a", 1.0) is None


def test_the_addresses_remembered_are_bounded_stalest_first() -> None:
    throttle = LoginThrottle(limit=1, window_s=60, max_clients=2)
    throttle.failed("a", 0.0)
    throttle.failed("b", 1.0)
    throttle.failed("c", 2.0)
    assert throttle.retry_after("a", 3.0) is None, "the stalest address was forgotten"
    assert throttle.retry_after("b", 3.0) == 58.0 and throttle.retry_after("c", 3.0) == 59.0
