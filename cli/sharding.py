"""Shard selection for SLURM job arrays: flags win, else the array's environment, else one shard."""
from __future__ import annotations

import os

from simulators.core.errors import InputError
from simulators.core.sharding import check_shard


def resolve_shard(num_shards: int | None, shard_index: int | None) -> tuple[int, int]:
    """(num_shards, shard_index) from flags or SLURM_ARRAY_TASK_COUNT / SLURM_ARRAY_TASK_ID, checked."""
    env_count = os.environ.get("SLURM_ARRAY_TASK_COUNT")
    env_index = os.environ.get("SLURM_ARRAY_TASK_ID")
    try:
        count = num_shards if num_shards is not None else int(env_count) if env_count else 1
        index = shard_index if shard_index is not None else int(env_index) if env_index else 0
    except ValueError:
        raise InputError("SLURM_ARRAY_TASK_COUNT / SLURM_ARRAY_TASK_ID are not integers") from None
    check_shard(count, index)
    return count, index
