"""What report.html derives from the artifacts: reason order, gate applicability, variant names, formats."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any, cast

import pytest
from torghut_research.config import expand_variants
from torghut_research.report.html import (
    KNOCK_ON,
    _halves,
    _params,
    _plain,
    _window,
    gate_rows,
    sharpe_note,
    split_reasons,
    variant_labels,
)
from torghut_strategies.book_file import reference_book

from .test_gates import GOOD, POLICY, matrix


def statuses(target: str) -> dict[str, str]:
    return {row["gate_id"]: row["status"] for row in gate_rows(matrix(replace(GOOD, target=target)))}


def test_gates_that_do_not_apply_to_the_target_are_not_shown_as_passed() -> None:
    assert statuses("live") == {
        "gate0_data_integrity": "pass", "gate1_statistical_robustness": "pass", "gate2_risk_capacity": "pass",
        "gate3_shadow_paper_quality": "pass", "gate4_operational_readiness": "pass",
        "gate6_profitability_evidence": "pass", "gate7_uncertainty_calibration": "pass",
        "gate5_live_ramp_readiness": "fail"}  # live is off by policy
    paper = statuses("paper")
    assert paper["gate5_live_ramp_readiness"] == "n/a" and paper["gate6_profitability_evidence"] == "pass"
    shadow = statuses("shadow")
    assert [g for g, s in shadow.items() if s == "n/a"] == [
        "gate6_profitability_evidence", "gate7_uncertainty_calibration", "gate5_live_ramp_readiness"]
    rows = {row["gate_id"]: row for row in gate_rows(matrix(replace(GOOD, target="shadow")))}
    assert rows["gate6_profitability_evidence"]["note"] == "not evaluated: a shadow target does not need it"
    assert rows["gate5_live_ramp_readiness"]["css"] == "na"


def test_a_policy_that_waives_profitability_evidence_shows_gates_6_and_7_as_not_applicable() -> None:
    report = matrix(GOOD, POLICY.model_copy(update={"gate6_require_profitability_evidence": False}))
    rows = {row["gate_id"]: row for row in gate_rows(report)}
    assert rows["gate6_profitability_evidence"]["status"] == "n/a"
    assert "policy" in rows["gate7_uncertainty_calibration"]["note"]


def test_a_failing_gate_keeps_its_reasons() -> None:
    rows = {row["gate_id"]: row for row in gate_rows(matrix(replace(GOOD, deflated_sharpe=0.1)))}
    assert rows["gate1_statistical_robustness"] == {
        "gate_id": "gate1_statistical_robustness", "status": "fail", "css": "fail",
        "note": "deflated_sharpe_below_threshold"}


def test_root_causes_come_first_and_knock_on_reasons_after_them() -> None:
    reasons = ["deflated_sharpe_below_threshold", "gate1_not_passed", "gate_report_not_promotable",
               "net_pnl_below_minimum", "required_artifacts_missing", "uncertainty_abstain_threshold_exceeded",
               "uncertainty_calibration_slo_failed", "uncertainty_gate_action_abstain", "uncertainty_gate_not_pass"]
    root, knock_on = split_reasons(reasons)
    assert root == ["deflated_sharpe_below_threshold", "net_pnl_below_minimum",
                    "uncertainty_abstain_threshold_exceeded", "uncertainty_calibration_slo_failed"]
    assert knock_on == ["gate1_not_passed", "gate_report_not_promotable", "required_artifacts_missing",
                        "uncertainty_gate_action_abstain", "uncertainty_gate_not_pass"]
    assert set(knock_on) <= KNOCK_ON
    # Nothing is hidden behind "and therefore" when no root cause is left to explain it.
    assert split_reasons(["gate_report_not_promotable"]) == (["gate_report_not_promotable"], [])
    assert split_reasons([]) == ([], [])


@pytest.mark.parametrize(("value", "shown"), [
    (600.0, "600"), (0.5, "0.5"), ("25", "25"), (3, "3"), (True, "true"), (None, "null"), ("*", "*"),
    ([1.0, "x"], "[1, x]"), ({"a": "1"}, "{a=1}"),
])
def test_parameters_are_shown_as_a_person_writes_them(value: Any, shown: str) -> None:
    assert _plain(value) == shown


def test_params_read_as_key_value_pairs() -> None:
    assert _params({"min_separation": "0"}) == "min_separation=0"
    assert _params({"oversold": "25", "oversold_exit": "35"}) == "oversold=25, oversold_exit=35"


def test_a_test_window_takes_one_short_line() -> None:
    assert _window({"test_start": "2026-02-12T17:06:36Z", "test_end": "2026-02-12T18:04:57Z"}) == "02-12 17:06–18:04"
    assert _window({"test_start": "2026-02-12T14:30:00Z", "test_end": "2026-02-19T21:00:00Z"}) == (
        "2026-02-12 → 2026-02-19")


def test_a_regime_label_breaks_at_most_once_near_its_middle() -> None:
    assert _halves("vol=low|trend=down|liq=liquid") == ("vol=low|trend=down|", "liq=liquid")
    assert _halves("calm") == ("calm", "")


def run_of(grid: dict[str, dict[str, list[Any]]]) -> Any:
    books = expand_variants(reference_book(), grid, origin="test")
    return cast(Any, SimpleNamespace(variants=[SimpleNamespace(book=book) for book in books]))


def test_variants_are_named_by_the_values_that_set_them_apart() -> None:
    run = run_of({"macd-rsi-v1": {"cooldown_s": [120, 600]}, "rsi-reversion-v1": {"params.oversold": [25, 30]}})
    assert variant_labels(run) == ["cooldown_s=120, oversold=25", "cooldown_s=120, oversold=30",
                                   "cooldown_s=600, oversold=25", "cooldown_s=600, oversold=30"]
    # A key both strategies vary is named with its strategy; one that no variant changes is left out.
    both = run_of({"macd-rsi-v1": {"cooldown_s": [120, 600]}, "rsi-reversion-v1": {"cooldown_s": [60, 900]}})
    assert variant_labels(both)[1] == "macd-rsi-v1.cooldown_s=120, rsi-reversion-v1.cooldown_s=900"
    one = run_of({"macd-rsi-v1": {"cooldown_s": [120, 600]}, "rsi-reversion-v1": {"cooldown_s": [60]}})
    assert variant_labels(one) == ["cooldown_s=120", "cooldown_s=600"]
    assert variant_labels(run_of({})) == [""]  # no grid: the book as given


def folds(*spans: tuple[str, str]) -> Any:
    return cast(Any, SimpleNamespace(bars_per_year=98_280.0, fold_reports=[
        {"fold": {"test_start": start, "test_end": end}} for start, end in spans]))


def test_the_sharpe_note_gives_the_window_length_and_warns_when_it_is_short() -> None:
    hour = sharpe_note(folds(("2026-02-12T17:06:36Z", "2026-02-12T18:04:57Z"),
                             ("2026-02-12T18:09:57Z", "2026-02-12T19:03:00Z")))
    assert hour == {"bars_per_year": 98_280.0, "length": "53 minutes to 58 minutes", "short": True}
    month = sharpe_note(folds(("2026-01-02T14:30:00Z", "2026-02-02T21:00:00Z")))
    assert month["length"] == "31.3 days" and not month["short"]
