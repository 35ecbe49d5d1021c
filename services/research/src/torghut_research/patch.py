"""The paper candidate: signal-trigger's strategy file, and the Helm values that deploy it.

``strategy-patch.yaml`` is a complete strategy book (the variant the last fold selected), loadable
as it is with ``STRATEGIES_PATH``; its header names the candidate and the gate report it came
from. ``helm-values.yaml`` mounts that book into signal-trigger through the chart's ``files`` and
points ``STRATEGIES_PATH`` at it: ``helm upgrade ... -f helm-values.yaml``. The book is embedded as a
YAML literal block (``strategies.yaml: |``), so it reads as the book itself in a pull request.
"""

from __future__ import annotations

import yaml
from torghut_strategies.book import StrategyBook

MOUNT = "/etc/torghut/files/strategies.yaml"


class _LiteralDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that writes every multi-line string as a literal block (``|``)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_str(value)


_LiteralDumper.add_representer(str, _str)


def book_yaml(book: StrategyBook) -> str:
    return yaml.safe_dump(book.model_dump(mode="json"), sort_keys=False, default_flow_style=False)


def strategy_patch(book: StrategyBook, *, candidate_id: str, run_id: str, gate_report_hash: str) -> str:
    header = (f"# Paper candidate {candidate_id} of research run {run_id}, proposed by torghut-research.\n"
              f"# Gate report sha256 {gate_report_hash}. Load it with STRATEGIES_PATH=<this file>.\n")
    return header + book_yaml(book)


def helm_values(book: StrategyBook, *, candidate_id: str) -> str:
    values = {"services": {"signal-trigger": {
        "files": {"strategies.yaml": book_yaml(book)},
        "config": {"STRATEGIES_PATH": MOUNT},
    }}}
    return (f"# Helm values for paper candidate {candidate_id}: helm upgrade <release> deploy/helm/torghut "
            "-f helm-values.yaml\n") + yaml.dump(values, Dumper=_LiteralDumper, sort_keys=False,
                                                  default_flow_style=False)
