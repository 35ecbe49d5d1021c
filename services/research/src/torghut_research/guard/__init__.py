"""The orchestration guard: is a stage transition legal, and what to do after a failure."""
