"""`torghut demo --from-bars`: the session's bars and quotes go through market-data's file source and
ta, and the rest of the suite trades on the signals ta computes, exactly as on the precomputed ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from torghut_cli.demo.make_dataset import INSTRUMENTS, MINUTES
from torghut_cli.demo.runner import run_demo


@pytest.mark.slow
async def test_the_demo_runs_from_bars_to_fills(tmp_path: Path) -> None:
    tally = await run_demo(tmp_path / "demo", None, 6.0, from_bars=True)

    assert tally.counts["signals"] == MINUTES * len(INSTRUMENTS), "ta computed one signal per bar"
    assert tally.counts["triggers"] > 0 and tally.counts["decisions"] >= tally.counts["triggers"]
    assert tally.counts["fills"] == tally.counts["orders"] > 0
    assert not tally.dead_letters
    assert tally.complete_chain() is not None
