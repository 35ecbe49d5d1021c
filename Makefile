# The verbs a newcomer types. Each one bootstraps what it needs on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export LITELLM_LOCAL_MODEL_COST_MAP := True
export UV_LINK_MODE := copy

.PHONY: help bootstrap test test-fast test-llm lint demo infra bench contracts-check contracts-snapshot asyncapi clean

help:
	@echo "make demo     run the whole suite on embedded infrastructure and print a report"
	@echo "              (make demo LLM=local: with a real local model reviewing every proposal)"
	@echo "make test     run every test (installs what it needs first)"
	@echo "make test-llm the local-model tier: a real model (SmolLM2-135M, llama.cpp) in the loop (builds once)"
	@echo "make lint     ruff + mypy over libs/, services/ and bench/"
	@echo "make infra    start the embedded broker and Postgres in the foreground"
	@echo "make bench    run the benchmarks in bench/ (the suite, the firewall's scaling curve, the research lane over 1M signals, the console, an HTTP request's cost)"
	@echo "make asyncapi write docs/asyncapi.yaml from the services' declared Kafka channels"

# --compile-bytecode: this machine sets PYTHONDONTWRITEBYTECODE, so without it every process compiles
# its imports from source (dspy + litellm: 7.4 s to import, 3.9 s compiled; 12 s once, at install).
bootstrap:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --all-packages --quiet --compile-bytecode

test: bootstrap
	@scripts/ensure-clickhouse.sh
	@scripts/ensure-chromium.sh
	$(UV) run torghut-contracts check
	$(UV) run pytest

test-llm: bootstrap
	@scripts/ensure-local-llm.sh
	TORGHUT_LLM_TESTS=1 $(UV) run pytest -m llm tests/llm

test-fast: bootstrap
	$(UV) run pytest -m "not slow"

lint: bootstrap
	$(UV) run ruff check libs services tests bench deploy
	$(UV) run mypy $(wildcard libs/*/src) $(wildcard services/*/src) bench

contracts-check: bootstrap
	$(UV) run torghut-contracts check

contracts-snapshot: bootstrap
	$(UV) run torghut-contracts snapshot

asyncapi: bootstrap
	$(UV) run python scripts/asyncapi.py

infra: bootstrap
	$(UV) run torghut-infra up --data-dir .torghut/infra --foreground

demo: bootstrap
ifeq ($(LLM),local)
	@scripts/ensure-local-llm.sh
	$(UV) run torghut demo --llm local --speed $(or $(SPEED),30)
else
	$(UV) run torghut demo
endif

bench: bootstrap
	$(UV) run python -m bench
	$(UV) run python -m bench.scaling
	$(UV) run python -m bench.research_lane
	$(UV) run python -m bench.console
	$(UV) run python -m bench.http_client

clean:
	rm -rf .torghut .pytest_cache .mypy_cache .ruff_cache
