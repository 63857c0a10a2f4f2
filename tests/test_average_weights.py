"""scripts/average_weights.py: the uniform weight average of checkpoints of one network, refused
across networks, readable as a model."""
from pathlib import Path

import pytest
import torch

from causal_amort.config import ModelConfig, RunConfig
from causal_amort.model import checkpoint as ckpt
from causal_amort.model.order_model import OrderModel
from simulators.core.errors import InputError

def saved(folder: Path, seed: int, **model) -> tuple[Path, OrderModel]:
    torch.manual_seed(seed)
    cfg = RunConfig(model=ModelConfig(dim=16, heads=2, enc_layers=1, dec_layers=1, encoder="stats", pair_dim=4,
                                      state="none", **model))
    net = OrderModel(cfg.model)
    ckpt.save_checkpoint(folder / "checkpoints", ckpt.BEST, net, cfg, 10)
    return folder, net


def test_the_average_is_the_mean_of_every_weight_and_loads_as_a_model(tmp_path, script_module):
    (a, net_a), (b, net_b) = saved(tmp_path / "a", 0), saved(tmp_path / "b", 1)
    out = script_module("average_weights").average([str(a), str(b)], tmp_path / "soup")
    soup, _ = ckpt.load_model(tmp_path / "soup")
    assert out == tmp_path / "soup" / "checkpoints" / "best.json"
    for name, value in soup.state_dict().items():
        torch.testing.assert_close(value, (net_a.state_dict()[name] + net_b.state_dict()[name]) / 2)
    assert not torch.equal(net_a.state_dict()["s0"], net_b.state_dict()["s0"])


def test_checkpoints_of_different_networks_are_refused(tmp_path, script_module):
    (a, _), (b, _) = saved(tmp_path / "a", 0), saved(tmp_path / "b", 1, kernel_rows=32)
    with pytest.raises(InputError, match="kernel_rows"):
        script_module("average_weights").average([str(a), str(b)], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()
