"""The one exception type for bad user input; the CLI turns it into a one-line error and exit 2."""


class InputError(ValueError):
    """Bad input from the user (a flag, a spec, a file). The message is one line, no traceback."""
