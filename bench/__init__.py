"""Benchmarks of the Torghut suite against the bare broker (``make bench`` = ``python -m bench``).

Timing lives here and never in tests: tests check behaviour, benchmarks report figures. Every
figure is printed beside a bare aiokafka baseline measured in the same run on the same broker, so
a reader compares ratios, which survive a noisy shared machine better than absolute numbers.
"""
