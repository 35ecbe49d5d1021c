"""signal-trigger's own rules: pure functions, no I/O, no clock, no database.

The strategy core (gates, strategies, per-symbol state) is not here but in ``torghut_strategies``
(``libs/strategies``), a library shared with the research lane so that a backtested strategy is the
live one. What the service adds around it is here.
"""
