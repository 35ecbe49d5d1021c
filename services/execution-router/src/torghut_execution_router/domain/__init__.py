"""The pure core: deterministic functions over contract models and plain values, no I/O."""
