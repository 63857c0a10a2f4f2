"""Placeholder until the command lands; replaced wholesale by its owner."""
from cli.guard import fail


def predict() -> None:
    """Not built yet."""
    raise fail("'predict' is not built yet")
