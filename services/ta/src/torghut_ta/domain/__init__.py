"""ta's pure core: per-symbol indicator state, the rules for awkward bars, quote freshness. No I/O, no clock."""
