"""Placeholder until the command lands; replaced wholesale by its owner."""
from cli.guard import fail


def simulate() -> None:
    """Not built yet."""
    raise fail("'simulate' is not built yet")
