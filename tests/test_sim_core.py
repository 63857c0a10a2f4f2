"""simulators/core helpers that both sides import: the z-score."""
import numpy as np

from simulators.core.zscore import zscore


def test_zscore_scales_each_column_and_only_centres_constant_ones():
    x = np.column_stack([np.arange(10.0) * 3 + 5, np.full(10, 7.0)])
    z = zscore(x)
    assert np.allclose(z.mean(axis=0), 0.0) and np.isclose(z[:, 0].std(), 1.0)
    assert (z[:, 1] == 0.0).all()
    assert np.allclose(zscore(x[:, 0]), z[:, 0])  # one variable alone, as the sampler passes it
