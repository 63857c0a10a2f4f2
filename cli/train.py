"""Placeholder until the command lands; replaced wholesale by its owner."""
from cli.guard import fail


def train() -> None:
    """Not built yet."""
    raise fail("'train' is not built yet")
