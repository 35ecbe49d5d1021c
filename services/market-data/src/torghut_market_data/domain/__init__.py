"""market-data's rules, pure: frames and rows to contracts, gaps, the late flag, message ids.

No I/O and no clock here: every function is given what it decides on, so the unit tests hold the
rules exactly and a replay decides the same way.
"""
