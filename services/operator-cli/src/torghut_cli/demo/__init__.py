"""``torghut demo``: the whole suite on embedded infrastructure, replaying one market session."""
