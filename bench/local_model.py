"""Benchmark: a real local model in the decision path, beside the stand-in, in one run (issue #27).

    uv run python -m bench.local_model [--decisions 12]      # after scripts/ensure-local-llm.sh

The decision-client's chat-completions client (the path a decision takes to an OpenAI-compatible
model, ``LLM_RESPONSE_SCHEMA`` on) asks for ``--decisions`` decisions one after another, first of
SmolLM2-135M-Instruct under llama-cpp-python's server (2 threads), then of the scripted stand-in
(``torghut_embedded.llm_standin.LocalLlm``) answering the same decision. Figures: decisions per
second, latency p50/p99 of a whole decision, how many were decisions and how many holds (with their
reason codes), the model's completion tokens per second (from a non-streamed request of the same
body, whose ``usage`` the server fills), and the model server's peak RSS. Results go to
bench/results/local-model.json; docs/performance.md records them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from torghut_decision_client.adapters.chat_client import ChatCompletionsClient
from torghut_decision_client.adapters.engine_config import EngineClientConfig
from torghut_decision_client.domain.outcome import EngineAnswer
from torghut_decision_engine.testing import decision_request
from torghut_embedded.asgi import serve
from torghut_embedded.llm_standin import LocalLlm
from torghut_embedded.local_model import MODEL_NAME, LocalModelServer

from .procfs import peak_rss_mb
from .results_file import write_results
from .stats import latency_summary

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKDIR = REPO_ROOT / ".torghut" / "bench" / "local-model"
STANDIN_ANSWER = json.dumps({"intent": {"action": "buy", "qty": "10"}, "confidence": "0.6",
                             "uncertainty_notes": [], "risk_flags": []})


async def decide_many(url: str, model: str, count: int, before_each: Any = None) -> dict[str, Any]:
    config = EngineClientConfig(base_url=url, read_timeout_s=120, stall_timeout_s=120, deadline_s=180,
                                max_reconnects=0)
    client = ChatCompletionsClient(url=url + "/chat/completions", model=model, config=config, response_schema=True,
                                   max_tokens=200)
    latencies, outcomes = [], Counter[str]()
    started = time.monotonic()
    try:
        for _ in range(count):
            if before_each is not None:
                before_each()
            t0 = time.monotonic()
            outcome = await client.decide(decision_request())
            latencies.append((time.monotonic() - t0) * 1000)
            outcomes.update(["decision"] if isinstance(outcome, EngineAnswer) else outcome.reason_codes)
    finally:
        await client.aclose()
    elapsed = time.monotonic() - started
    return {"decisions_per_s": round(count / elapsed, 3), "latency": latency_summary(latencies),
            "outcomes": dict(outcomes)}


def tokens_per_s(url: str, body: dict[str, Any], rounds: int = 3) -> dict[str, Any]:
    rates, prompt = [], 0
    for _ in range(rounds):
        t0 = time.monotonic()
        usage = httpx.post(url + "/chat/completions", json={**body, "stream": False}, timeout=180).json()["usage"]
        rates.append(usage["completion_tokens"] / (time.monotonic() - t0))
        prompt = usage["prompt_tokens"]
    return {"completion_tokens_per_s": round(sorted(rates)[len(rates) // 2], 1), "prompt_tokens": prompt}


async def bench(count: int) -> dict[str, Any]:
    server = LocalModelServer(WORKDIR)
    server.start()
    try:
        shaped = ChatCompletionsClient(url="", model=MODEL_NAME, config=EngineClientConfig(base_url=""),
                                       response_schema=True, max_tokens=200)
        body = shaped.body(decision_request())
        await shaped.aclose()
        tokens = tokens_per_s(server.base_url, body)  # also warms the server's prompt cache
        model = await decide_many(server.base_url, MODEL_NAME, count)
        rss = peak_rss_mb(server.process.pid) if server.process else None
    finally:
        server.stop()
    standin = LocalLlm()
    async with serve(standin.app) as url:
        stand_in = await decide_many(url + "/v1", standin.model, count, lambda: standin.answer(STANDIN_ANSWER))
    return {"decisions": count, "local_model": {**model, **tokens, "server_peak_rss_mb": rss},
            "stand_in": stand_in}


def report(figures: dict[str, Any]) -> str:
    lines = [f"{figures['decisions']} decisions one after another, chat-completions client, schema on"]
    for name in ("local_model", "stand_in"):
        f = figures[name]
        lines.append(f"  {name:<12} {f['decisions_per_s']:>7.3f} decisions/s   p50 {f['latency']['p50_ms']:>9.1f} ms   "
                     f"p99 {f['latency']['p99_ms']:>9.1f} ms   outcomes {f['outcomes']}")
    m = figures["local_model"]
    lines.append(f"  model: {m['completion_tokens_per_s']} completion tokens/s, {m['prompt_tokens']} prompt tokens, "
                 f"server peak RSS {m['server_peak_rss_mb']} MB")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=12)
    args = parser.parse_args()
    figures = asyncio.run(bench(args.decisions))
    write_results("local-model", figures, report(figures))


if __name__ == "__main__":
    main()
