"""Work split over a job array (e.g. SLURM): task ``shard_index`` of ``num_shards`` takes the items
k with k mod num_shards == shard_index. Simulating suites and evaluating both split this way."""
from __future__ import annotations

from simulators.core.errors import InputError


def check_shard(num_shards: int, shard_index: int) -> None:
    """InputError unless num_shards >= 1 and 0 <= shard_index < num_shards (messages name the flags)."""
    if num_shards < 1:
        raise InputError(f"--num-shards must be at least 1, got {num_shards}")
    if not 0 <= shard_index < num_shards:
        raise InputError(f"--shard-index must be in [0, {num_shards}), got {shard_index}")
