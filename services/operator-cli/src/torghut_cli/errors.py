"""The error an operator can fix."""

from __future__ import annotations


class CliError(Exception):
    """A problem the operator can fix; printed without a traceback, exit code 2."""
