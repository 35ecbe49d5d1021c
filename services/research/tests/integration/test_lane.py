"""The lane end to end on the demo session: artifacts, determinism, denial, and bad input."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..conftest import DEMO_SIGNALS, SHIPPED_POLICY
from .conftest import CONFIG, files, lane

ARTIFACTS = {
    "manifest.json", "report.html", "plots/equity.png", "plots/folds.png", "research/candidate-spec.json",
    "backtest/walkforward-results.json", "backtest/evaluation-report.json", "backtest/baseline-evaluation-report.json",
    "gates/gate-evaluation.json", "gates/promotion-prerequisites.json", "gates/rollback-readiness.json",
    "gates/profitability-benchmark-v4.json", "gates/profitability-evidence-v4.json",
    "gates/profitability-evidence-validation.json", "gates/recalibration-report.json",
    "gates/promotion-evidence-gate.json", "gates/janus-event-car-v1.json", "gates/janus-hgrm-reward-v1.json"}


def test_two_runs_over_the_same_inputs_write_the_same_bytes(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                            lane_inputs: list[str]) -> None:
    code, first, _ = lane(capsys, *lane_inputs, "--output-dir", str(tmp_path / "a"))
    assert code == 0 and first is not None
    code, second, _ = lane(capsys, *lane_inputs, "--output-dir", str(tmp_path / "b"))
    assert code == 0 and second is not None
    a, b = files(tmp_path / "a"), files(tmp_path / "b")
    assert set(a) == ARTIFACTS
    assert a == b
    assert first["manifest_sha256"] == second["manifest_sha256"] and first["run_id"] == second["run_id"]


def test_the_hash_chain_links_every_artifact_to_the_one_before(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                              lane_inputs: list[str]) -> None:
    lane(capsys, *lane_inputs, "--output-dir", str(tmp_path / "out"))
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    chain = manifest["chain"]
    assert [link["artifact"] for link in chain] == [
        "dataset", "research/candidate-spec.json", "backtest/walkforward-results.json",
        "backtest/evaluation-report.json", "gates/gate-evaluation.json"]
    for parent, child in itertools.pairwise(chain):
        body = json.loads((out / child["artifact"]).read_text())
        assert body["chain"]["parent_sha256"] == parent["sha256"]
    from torghut_research.canonical import sha256

    assert all(sha256((out / name).read_bytes()) == digest for name, digest in manifest["files"].items())


def test_a_denied_run_leaves_no_patch_and_says_why(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                   lane_inputs: list[str]) -> None:
    out = tmp_path / "out"
    (out / "paper-candidate").mkdir(parents=True)
    (out / "paper-candidate/strategy-patch.yaml").write_text("an old run's patch")
    code, summary, _ = lane(capsys, *lane_inputs, "--output-dir", str(out))
    assert code == 0 and summary is not None
    assert summary["action"] == "deny" and summary["paper_patch_path"] is None
    assert "net_pnl_below_minimum" in summary["reasons"]  # the reference book loses on this session
    assert not (out / "paper-candidate").exists()
    report = json.loads((out / "gates/gate-evaluation.json").read_text())
    assert report["promotion_decision"]["paper_patch"] is None
    assert {g["gate_id"]: g["status"] for g in report["gates"]}["gate1_statistical_robustness"] == "fail"
    page = (out / "report.html").read_text()
    assert "Selected variant (not proposed)" in page and "Strategies proposed" not in page
    root, therefore = page.split('<p class="reasons">', 1)[1].split("and therefore: ", 1)
    assert "net_pnl_below_minimum" in root and "gate_report_not_promotable" not in root
    assert "gate_report_not_promotable" in therefore.split("</p>", 1)[0]
    assert '<td class="l na">n/a</td>' in page  # gate5 does not apply to a paper target
    assert "{&#39;" not in page and "min_separation=0" in page  # params as key=value, not a Python dict


def test_a_promoted_run_writes_a_patch_and_helm_values_with_the_same_book(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, write: Callable[[str, Any], Path],
        lane_inputs: list[str]) -> None:
    # Loosened until the demo's random walk passes: exercises the promotion path only (docs/research.md, step 4).
    policy = json.loads(SHIPPED_POLICY.read_text()) | {
        "policy_version": "exploration-only-never-for-promotion", "gate1_min_net_pnl": -1e6,
        "gate1_max_negative_fold_ratio": 1, "gate1_min_deflated_sharpe": 0, "gate2_max_fragility_score": 1,
        "gate2_max_fragility_state_rank": 3, "gate6_min_return_over_drawdown": -1e6,
        "gate7_max_coverage_error_pass": 0.15, "gate7_max_coverage_error_degrade": 0.15,
        "gate7_max_coverage_error_abstain": 0.15, "promotion_uncertainty_max_coverage_error": 0.15}
    args = [*lane_inputs]
    args[args.index("--gate-policy") + 1] = str(write("exploration-policy.json", policy))
    out = tmp_path / "out"
    code, summary, _ = lane(capsys, *args, "--output-dir", str(out))
    assert code == 0 and summary is not None and summary["action"] == "promote"
    strategy_patch = (out / "paper-candidate/strategy-patch.yaml").read_text()
    helm = (out / "paper-candidate/helm-values.yaml").read_text()
    assert "strategies.yaml: |" in helm
    embedded = yaml.safe_load(helm)["services"]["signal-trigger"]["files"]["strategies.yaml"]
    assert embedded == strategy_patch.split("\n", 2)[2]  # the patch without its two comment lines
    assert yaml.safe_load(embedded) == yaml.safe_load(strategy_patch)
    page = (out / "report.html").read_text()
    assert "Strategies proposed" in page and "not proposed" not in page and "and therefore" not in page


def test_without_evidence_the_unmeasurable_gates_fail_closed(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                             write: Callable[[str, Any], Path]) -> None:
    code, summary, _ = lane(capsys, "--signals", str(DEMO_SIGNALS), "--strategy-config",
                            str(write("config.yaml", CONFIG)), "--gate-policy", str(SHIPPED_POLICY),
                            "--output-dir", str(tmp_path / "out"))
    assert code == 0 and summary is not None
    assert {"feature_staleness_missing", "llm_error_ratio_missing", "operational_readiness_incomplete",
            "kill_switch_dry_run_failed", "rollback_checks_missing_or_failed", "rollback_human_approval_missing",
            "rollback_dry_run_timestamp_missing"} <= set(summary["reasons"])


def test_evaluated_at_is_the_only_clock(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        lane_inputs: list[str]) -> None:
    lane(capsys, *lane_inputs, "--output-dir", str(tmp_path / "out"), "--evaluated-at", "2026-02-13T00:00:00Z")
    text = "".join(p.read_text() for p in (tmp_path / "out").rglob("*.json"))
    assert "2026-02-13T00:00:00Z" in text
    stamps = {line.split('"')[3] for line in text.splitlines()
              if any(k in line for k in ('"generated_at"', '"evaluated_at"', '"checked_at"', '"executed_at"'))}
    assert stamps == {"2026-02-13T00:00:00Z"}


def test_a_dump_of_the_same_signals_is_the_same_dataset(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        write: Callable[[str, Any], Path],
                                                        lane_inputs: list[str]) -> None:
    lines = DEMO_SIGNALS.read_text().splitlines()
    dump = [{"topic": "torghut.ta.signals.v1", "partition": 0, "offset": i, "timestamp_ms": 1_770_000_000_000 + i,
             "key": json.loads(line)["symbol"], "headers": {"x-replay-original-topic": "torghut.ta.signals.v1"},
             "value": json.loads(line)} for i, line in enumerate(lines)]
    dump.append({"topic": "torghut.decisions.v1", "partition": 0, "offset": 0, "timestamp_ms": 0, "key": "paper",
                 "headers": {}, "value": {"reason_codes": ["engine_timeout"]}})
    dump_dir = tmp_path / "dump"
    dump_dir.mkdir()
    (dump_dir / "day.jsonl").write_text("".join(json.dumps(d) + "\n" for d in dump))
    lane(capsys, *lane_inputs, "--output-dir", str(tmp_path / "file"))
    as_dump = [*lane_inputs]
    as_dump[1] = str(dump_dir)
    lane(capsys, *as_dump, "--output-dir", str(tmp_path / "dump-out"))
    spec = [json.loads((tmp_path / d / "research/candidate-spec.json").read_text()) for d in ("file", "dump-out")]
    assert spec[0]["inputs"]["signals"] == spec[1]["inputs"]["signals"]
    gate3 = json.loads((tmp_path / "dump-out/gates/gate-evaluation.json").read_text())["gates"][3]
    assert gate3["details"]["llm_error_ratio"] == 1.0 and gate3["details"]["llm_error_ratio_source"] == "measured"


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "cannot read the signals"),
    ("bad-record", ":3: not a valid torghut.ta.signals.v1 signal: rsi14: must be at most 100"),
    ("bad-json", ":2: not a valid torghut.ta.signals.v1 signal"),
    ("unknown-type", "config.yaml: book: invalid strategy book: strategies[0]: unknown type 'moonphase'"),
    ("bad-policy", "policy.json: invalid gate policy: gate0_max_null_rate: Input should be less than or equal to 1"),
    ("unknown-policy-key", "policy.json: invalid gate policy: gate9_magic: unknown key"),
    ("bad-evidence", "evidence.json: invalid evidence file: llm_error_ratio: Input should be a valid number"),
    ("empty", "no torghut.ta.signals.v1 signals"),
    ("embargo", "walk_forward: the embargo (1:00:00) leaves fold 2 no test window"),  # found after staging began
])
def test_bad_input_names_the_file_and_the_field_and_leaves_nothing(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, write: Callable[[str, Any], Path], lane_inputs: list[str],
        setup: str, message: str) -> None:
    args = dict(zip(lane_inputs[::2], lane_inputs[1::2], strict=True))
    good = DEMO_SIGNALS.read_text().splitlines()
    if setup == "missing":
        args["--signals"] = str(tmp_path / "nope.jsonl")
    elif setup == "bad-record":
        bad = json.loads(good[2]) | {"rsi14": "120"}
        args["--signals"] = str(write("s.jsonl", "\n".join([good[0], good[1], json.dumps(bad)])))
    elif setup == "bad-json":
        args["--signals"] = str(write("s.jsonl", good[0] + "\n{not json\n"))
    elif setup == "empty":
        args["--signals"] = str(write("s.jsonl", "\n"))
    elif setup == "unknown-type":
        args["--strategy-config"] = str(write("config.yaml", "version: 1\nstrategies:\n  - {id: x, type: moonphase, "
                                                             "universe: '*'}\n"))
    elif setup == "embargo":
        args["--strategy-config"] = str(write("config.yaml", CONFIG.replace("embargo: 2m", "embargo: 1h")))
    elif setup == "bad-policy":
        args["--gate-policy"] = str(write("policy.json", {"gate0_max_null_rate": 3}))
    elif setup == "unknown-policy-key":
        args["--gate-policy"] = str(write("policy.json", {"gate9_magic": True}))
    elif setup == "bad-evidence":
        args["--evidence"] = str(write("evidence.json", {"llm_error_ratio": "low"}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.txt").write_text("a previous run")
    code, summary, err = lane(capsys, *[x for pair in args.items() for x in pair], "--output-dir", str(out))
    assert code == 2 and summary is None
    assert message in err and len(err.strip().splitlines()) == 1
    assert files(out) == {"previous.txt": b"a previous run"}
    assert [p.name for p in tmp_path.iterdir() if "staging" in p.name] == []


def test_forked_workers_write_the_same_bytes_as_one_process(tmp_path: Path, lane_inputs: list[str]) -> None:
    import os
    import subprocess
    import sys

    outputs = {}
    for name, env in (("serial", {"TORGHUT_RESEARCH_WORKERS": "1"}),
                      ("forked", {"TORGHUT_RESEARCH_WORKERS": "2", "TORGHUT_RESEARCH_PARALLEL_MIN_SIGNALS": "1"})):
        subprocess.run([sys.executable, "-m", "torghut_research", "lane", *lane_inputs, "--output-dir",
                        str(tmp_path / name)], check=True, capture_output=True, env={**os.environ, **env}, timeout=300)
        outputs[name] = files(tmp_path / name)
    assert outputs["serial"] == outputs["forked"]
