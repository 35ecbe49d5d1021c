"""The operator's command line: watch the suite, steer it, and replay its topics."""
