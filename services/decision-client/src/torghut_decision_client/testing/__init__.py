"""Stand-ins for the servers the decision-client talks to, speaking their real protocols (tests only).

* :mod:`.fake_engine`: a scripted seed-002 decision engine (also the faults the client must survive
  that the reference engine cannot produce: no resumable stream, 5xx, a final for another request);
* :mod:`.local_llm`: an OpenAI-compatible chat-completions server (streaming and not), for the
  chat-completions transport and for dspy.LM;
* :mod:`.engine_process`: the reference engine (services/decision-engine) as a subprocess.
"""
