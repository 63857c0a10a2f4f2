"""simulators/core helpers that both sides import: the z-score, the TOML value rule and the
job-array shard bounds."""
import re

import numpy as np
import pytest

from simulators.core.copies import copy_groups
from simulators.core.errors import InputError
from simulators.core.float32 import as_float32, column_offsets
from simulators.core.sharding import check_shard
from simulators.core.toml_value import as_type
from simulators.core.zscore import zscore


def test_zscore_scales_each_column_and_only_centres_constant_ones():
    x = np.column_stack([np.arange(10.0) * 3 + 5, np.full(10, 7.0)])
    z = zscore(x)
    assert np.allclose(z.mean(axis=0), 0.0) and np.isclose(z[:, 0].std(), 1.0)
    assert (z[:, 1] == 0.0).all()
    assert np.allclose(zscore(x[:, 0]), z[:, 0])  # one variable alone, as the sampler passes it


def test_copy_groups_gather_affine_copies_in_column_order_and_leave_constant_columns_out():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 500))
    x = np.c_[a, b, np.full(500, 3.0), -4 * a + 2, b + 1e-3 * rng.normal(size=500), 0.5 * b]
    assert copy_groups(x) == [[0, 3], [1, 5], [4]]  # column 4 is near b, not a copy; column 2 is constant
    assert copy_groups(x[:, :2]) == [[0], [1]]


def test_a_column_far_from_zero_is_cast_to_float32_less_its_median_and_others_as_they_are():
    rng = np.random.default_rng(0)
    near = np.column_stack([rng.standard_normal(200), rng.integers(0, 2, 200), np.zeros(200), 30 + rng.random(200)])
    assert column_offsets(near) is None  # ordinary data: the plain cast, bit for bit
    assert (as_float32(near, column_offsets(near)) == near.astype(np.float32)).all()
    far = np.column_stack([1e7 + rng.standard_normal(200), rng.standard_normal(200), np.full(200, -2e9)])
    offsets = column_offsets(far)
    assert offsets[0] == np.median(far[:, 0]) and offsets[1] == 0.0 and offsets[2] == -2e9
    kept = as_float32(far, offsets)
    assert kept.dtype == np.float32 and kept.flags.c_contiguous
    assert np.abs(kept[:, 0] + offsets[0] - far[:, 0]).max() < 1e-5  # digits kept
    assert np.abs(far.astype(np.float32)[:, 0] - far[:, 0]).max() > 0.1  # a plain cast rounds to whole numbers
    assert np.isinf(as_float32(np.array([[1e300]]))).all()  # past float32's range: inf, for the caller to refuse


@pytest.mark.parametrize("value, kind, expected", [
    (3, float, 3.0), (2.5, float, 2.5), (3, int, 3), (True, bool, True), ("tanh", str, "tanh"),
])
def test_as_type_accepts_a_fitting_value_and_widens_int_to_float(value, kind, expected):
    result = as_type(value, kind)
    assert result == expected and type(result) is kind


@pytest.mark.parametrize("value, kind", [
    (True, int), (False, float), (1, bool), (0.0, bool), (2.5, int), ("3", int), (3, str), ([1], float),
])
def test_as_type_refuses_bools_as_numbers_numbers_as_bools_and_other_types(value, kind):
    with pytest.raises(TypeError):
        as_type(value, kind)


@pytest.mark.parametrize("num_shards, shard_index, message", [
    (0, 0, "--num-shards must be at least 1, got 0"),
    (-3, 0, "--num-shards must be at least 1, got -3"),
    (2, 2, "--shard-index must be in [0, 2), got 2"),
    (2, -1, "--shard-index must be in [0, 2), got -1"),
])
def test_check_shard_refuses_a_task_outside_the_array(num_shards, shard_index, message):
    with pytest.raises(InputError, match=re.escape(message)):
        check_shard(num_shards, shard_index)


def test_check_shard_accepts_every_task_of_the_array():
    for index in range(3):
        check_shard(3, index)
