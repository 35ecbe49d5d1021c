"""The paper patch: helm-values.yaml embeds strategy-patch.yaml's book, as a literal block that reads as YAML."""

from __future__ import annotations

import yaml
from torghut_research import patch
from torghut_strategies.book_file import reference_book


def test_helm_values_embed_the_book_as_a_literal_block_identical_to_the_strategy_patch() -> None:
    book = reference_book()
    strategy_patch = patch.strategy_patch(book, candidate_id="cand-x", run_id="run-x", gate_report_hash="0" * 64)
    helm = patch.helm_values(book, candidate_id="cand-x")
    assert "      strategies.yaml: |\n        version: 1\n        strategies:\n" in helm
    values = yaml.safe_load(helm)["services"]["signal-trigger"]
    embedded = values["files"]["strategies.yaml"]
    # The same text as the strategy patch without its two comment lines, so the same book.
    assert embedded == strategy_patch.split("\n", 2)[2]
    assert yaml.safe_load(embedded) == yaml.safe_load(strategy_patch) == book.model_dump(mode="json")
    assert values["config"] == {"STRATEGIES_PATH": patch.MOUNT}


def test_only_multi_line_strings_become_literal_blocks() -> None:
    text = yaml.dump({"one": "a line", "many": "a\nb\n"}, Dumper=patch._LiteralDumper, sort_keys=False)
    assert text == "one: a line\nmany: |\n  a\n  b\n"
