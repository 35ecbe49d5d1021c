"""Benchmark: the DSPy pipeline (data set build, compile + eval) on the demo session and on 100,000 decisions.

    uv run python -m bench.dspy_pipeline [--decisions 100000] [--eval-limit 2000] [--demo-dump DIR]

1. **The demo session**: recorded once from the real suite on an embedded stack
   (``tests/integration/demo_recording.py``: every service, the committed 1,950 signals, then
   ``torghut replay dump`` per topic) into .torghut/bench/dspy/demo-dump, or taken from
   ``--demo-dump``. Timed: ``torghut-research dspy dataset`` over it, then ``dspy compile`` with
   ``labeled-few-shot`` and ``bootstrap-few-shot`` against the LM stand-in (``RuleLlm`` over loopback
   HTTP, through dspy.LM and litellm), eval included.
2. **100,000 recorded decisions**: a deterministic dump (``torghut_research.dspy.synthetic``, seed 0:
   20 symbols, 300,240 signals, the triggers, decisions, verdicts, fills and snapshots) written once
   per size. Timed: the data set build, then ``labeled-few-shot`` compile + eval with the eval split
   capped at ``--eval-limit`` examples (every eval example costs two LM calls, compiled and baseline).

Every command runs as its own process (``python -m torghut_research``): wall time and peak RSS
(``getrusage`` of the children) per step. Prints a table and writes bench/results/dspy-pipeline.json;
docs/performance.md records the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from torghut_embedded.asgi import serve_in_thread
from torghut_embedded.rule_llm import RuleLlm
from torghut_research.dspy.synthetic import write_synthetic_dump

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKDIR = REPO_ROOT / ".torghut" / "bench" / "dspy"
RESULTS = REPO_ROOT / "bench" / "results" / "dspy-pipeline.json"
CREATED_AT = "2026-02-12T22:00:00Z"


def _peak_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def research(*argv: str | Path) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "torghut_research", "dspy", *map(str, argv)], capture_output=True,
                            text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"torghut-research dspy {argv[0]} failed:\n{result.stderr}")
    return json.loads(result.stdout), elapsed


def record_demo(target: Path) -> Path:
    from torghut_embedded.stack import EmbeddedStack

    from tests.integration.demo_recording import record_demo_session

    with tempfile.TemporaryDirectory(prefix="torghut-dspy-bench-") as tmp, EmbeddedStack(Path(tmp) / "infra") as stack:
        return asyncio.run(record_demo_session(stack.kafka_bootstrap, stack.database_url, "bench.", target))


def step(name: str, argv: list[str | Path], rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary, seconds = research(*argv)
    row = {"step": name, "seconds": round(seconds, 3), "peak_rss_mb_children_so_far": round(_peak_children_mb(), 1)}
    if "counts" in summary:
        row["examples"] = summary["counts"]["examples"]
        row["decisions"] = summary["counts"]["decisions"]
    if "observed" in summary:
        row |= {"eval_examples": summary["evalExamples"], "demos": summary["demos"],
                "compile_s": summary["seconds"]["compile"], "eval_s": summary["seconds"]["eval"],
                "lm_calls_per_s": round(2 * summary["evalExamples"] / summary["seconds"]["eval"], 1),
                "measured_latency_p95_ms": summary["measuredLatencyP95Ms"]["compiled"],
                "veto_alignment": summary["observed"]["vetoAlignmentRate"],
                "baseline_veto_alignment": summary["baseline"]["vetoAlignmentRate"],
                "action_accuracy": summary["observed"]["actionAccuracy"],
                "baseline_action_accuracy": summary["baseline"]["actionAccuracy"]}
    rows.append(row)
    print(json.dumps(row), flush=True)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--eval-limit", type=int, default=2000)
    parser.add_argument("--demo-dump", type=Path)
    args = parser.parse_args(argv)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []

    demo = args.demo_dump or WORKDIR / "demo"
    if args.demo_dump is None and not (demo / "dump").is_dir():
        started = time.perf_counter()
        record_demo(demo)
        print(f"recorded the demo session in {time.perf_counter() - started:.1f}s", flush=True)
    demo_dump = demo if args.demo_dump else demo / "dump"
    big = WORKDIR / f"synthetic-{args.decisions}"
    if not big.is_dir():
        started = time.perf_counter()
        write_synthetic_dump(big, decisions=args.decisions, seed=0, symbols=20)
        print(f"generated {args.decisions} decisions in {time.perf_counter() - started:.1f}s", flush=True)

    llm = RuleLlm()
    with serve_in_thread(llm.app) as url:
        lm = ["--lm-base-url", url + "/v1", "--lm-model", "torghut-standin", "--seed", "7", "--created-at", CREATED_AT]
        step("demo: dataset", ["dataset", "--dump", demo_dump, "--output-dir", WORKDIR / "demo-dataset",
                               "--created-at", CREATED_AT], rows)
        for optimizer in ("labeled-few-shot", "bootstrap-few-shot"):
            step(f"demo: compile+eval {optimizer}", ["compile", "--dataset", WORKDIR / "demo-dataset/dspy-dataset.json",
                                                     "--optimizer", optimizer, "--output-dir",
                                                     WORKDIR / f"demo-{optimizer}", *lm], rows)
        step(f"{args.decisions}: dataset", ["dataset", "--dump", big, "--output-dir", WORKDIR / "big-dataset",
                                            "--created-at", CREATED_AT], rows)
        step(f"{args.decisions}: compile+eval labeled-few-shot (eval limit {args.eval_limit})",
             ["compile", "--dataset", WORKDIR / "big-dataset/dspy-dataset.json", "--optimizer", "labeled-few-shot",
              "--eval-limit", str(args.eval_limit), "--output-dir", WORKDIR / "big-labeled", *lm], rows)
    dataset_bytes = (WORKDIR / "big-dataset/dspy-dataset.json").stat().st_size
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "decisions": args.decisions, "eval_limit": args.eval_limit,
              "big_dataset_mb": round(dataset_bytes / 1e6, 1),
              "lm_calls_served": llm.calls, "steps": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'step':<66} {'seconds':>8}")
    for row in rows:
        print(f"{row['step']:<66} {row['seconds']:>8.2f}")
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
