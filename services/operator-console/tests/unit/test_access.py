"""Roles from passwords, and what each may do."""

from __future__ import annotations

from torghut_operator_console.domain.access import Role, may_act, may_read, role_for, same_token


def test_each_password_opens_its_own_role_and_nothing_else_opens_any() -> None:
    kwargs = {"operator_password": "op-secret-123", "viewer_password": "view-secret-12"}
    assert role_for("op-secret-123", **kwargs) is Role.OPERATOR
    assert role_for("view-secret-12", **kwargs) is Role.VIEWER
    assert role_for("", **kwargs) is None
    assert role_for("op-secret-12", **kwargs) is None


def test_with_no_operator_password_configured_nobody_becomes_operator() -> None:
    assert role_for("", operator_password=None, viewer_password=None) is None
    assert role_for("anything", operator_password=None, viewer_password="view-secret-12") is None


def test_only_an_operator_acts_and_reading_needs_a_login_only_with_a_viewer_password() -> None:
    assert may_act(Role.OPERATOR) and not may_act(Role.VIEWER) and not may_act(None)
    assert may_read(None, viewer_password_set=False)
    assert not may_read(None, viewer_password_set=True)
    assert may_read(Role.VIEWER, viewer_password_set=True)


def test_a_csrf_token_must_be_present_on_both_sides_and_equal() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd")
    assert not same_token(None, None) and not same_token("", "") and not same_token("abc", None)
