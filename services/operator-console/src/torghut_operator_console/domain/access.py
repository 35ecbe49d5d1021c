"""Who may do what: a viewer sees everything, only an operator acts.

Passwords are the operator's own configuration (no default exists in production mode); they are
compared in constant time. Without a viewer password the pages are open to read, as a status page
is; with one, reading needs a login too.
"""

from __future__ import annotations

import hmac
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"


def role_for(password: str, *, operator_password: str | None, viewer_password: str | None) -> Role | None:
    """The role a password opens, or None. Both passwords are checked, so timing shows neither."""
    given = password.encode()
    is_operator = operator_password is not None and hmac.compare_digest(given, operator_password.encode())
    is_viewer = viewer_password is not None and hmac.compare_digest(given, viewer_password.encode())
    if is_operator:
        return Role.OPERATOR
    if is_viewer:
        return Role.VIEWER
    return None


def may_read(role: Role | None, *, viewer_password_set: bool) -> bool:
    return role is not None or not viewer_password_set


def may_act(role: Role | None) -> bool:
    return role is Role.OPERATOR


def same_token(expected: str | None, given: str | None) -> bool:
    """A CSRF token check: both present and equal, in constant time."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
