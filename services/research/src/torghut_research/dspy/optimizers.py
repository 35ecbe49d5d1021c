"""The three DSPy optimizers ``dspy compile --optimizer`` names, run seeded over the train split."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .dataset import OUTPUT_FIELDS
from .metrics import Metric

if TYPE_CHECKING:
    from .compile_options import CompileOptions

OPTIMIZERS = ("labeled-few-shot", "bootstrap-few-shot", "mipro")
OPTIMIZER_NAMES = {"labeled-few-shot": "LabeledFewShot", "bootstrap-few-shot": "BootstrapFewShot",
                   "mipro": "MIPROv2"}


def examples(dspy: Any, rows: Sequence[dict[str, Any]]) -> list[Any]:
    return [dspy.Example(request_json=r["inputs"]["request_json"],
                         **{name: r["label"][name] for name in OUTPUT_FIELDS}).with_inputs("request_json")
            for r in rows]


def optimise(dspy: Any, options: CompileOptions, trainset: list[Any], lm: Any, metric: Metric) -> Any:
    from torghut_decision_program.program import new_module

    shuffled = list(trainset)
    random.Random(options.seed).shuffle(shuffled)
    if options.optimizer == "labeled-few-shot":
        return dspy.LabeledFewShot(k=options.max_demos).compile(new_module(), trainset=shuffled, sample=False)
    with dspy.context(lm=lm):
        if options.optimizer == "bootstrap-few-shot":
            optimizer = dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=options.max_bootstrapped_demos,
                                              max_labeled_demos=options.max_demos, max_rounds=1)
            return optimizer.compile(new_module(), trainset=shuffled)
        optimizer = dspy.MIPROv2(metric=metric, auto="light", seed=options.seed, num_threads=options.num_threads,
                                 verbose=False)
        return optimizer.compile(new_module(), trainset=shuffled, requires_permission_to_run=False)
