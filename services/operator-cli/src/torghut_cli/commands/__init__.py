"""The ``torghut`` command groups, one module each: the command, and the arguments it takes."""
