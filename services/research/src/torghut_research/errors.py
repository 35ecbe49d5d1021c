"""The one error a user of the lane sees for bad input: a line that names the file and the field."""


class InputError(ValueError):
    """Input the lane cannot use; the message names where it came from and what is wrong."""
