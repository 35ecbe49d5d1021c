"""Reference decision engine: the seed-002 decision-engine endpoint, so the suite runs without Jangar."""
