"""Stand-ins for the servers the decision-client talks to, speaking their real protocols (tests only).

* :mod:`.fake_engine`: a scripted seed-002 decision engine (also the faults the client must survive
  that the reference engine cannot produce: no resumable stream, 5xx, a final for another request);
* the OpenAI-compatible chat-completions stand-ins (scripted ``LocalLlm``, deterministic ``RuleLlm``)
  live in ``torghut_embedded.llm_standin``, shared with the research lane's and the root tests;
* :mod:`.engine_process`: the reference engine (services/decision-engine) as a subprocess.
"""
