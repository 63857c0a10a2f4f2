"""Placeholder until the command lands; replaced wholesale by its owner."""
from cli.guard import fail


def evaluate() -> None:
    """Not built yet."""
    raise fail("'evaluate' is not built yet")
