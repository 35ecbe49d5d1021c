"""DSPy compile -> eval -> promote: the records, their hash chain, the metric policy and the AgentRun request.

Pure functions over pydantic records (research-lane.md §4), plus two thin adapters: the bundle
writer (:func:`.workflow.write_artifact_bundle`) and the Jangar submit client
(:func:`.agentrun.submit_agentrun`). The CLI is ``torghut-research dspy`` (:mod:`.cli`).

- :mod:`.hashing`: canonical JSON and ``hash_payload``;
- :mod:`.schemas`: ``DSPyCompileResult``, ``DSPyEvalReport``, ``DSPyPromotionRecord``, ``DSPyArtifactBundle``;
- :mod:`.workflow`: the builders and the six hashes, the bundle and its manifest;
- :mod:`.metric_policy`: ``dspy-metrics.yaml``;
- :mod:`.evaluator`: ``evaluate``, fail closed;
- :mod:`.promotion`: ``promote``, never live without the lane's live rule;
- :mod:`.agentrun`: ``build_dspy_agentrun_payload`` and ``submit_agentrun``.
"""
