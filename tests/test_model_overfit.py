"""A tiny model learns: it fits a fixed handful of small SCMs to (near) no reversed edges."""
import numpy as np
import torch

from causal_amort.config import load_config
from causal_amort.model.order_model import OrderModel


def small_scms(count, d, n, rng):
    """Random DAGs with nonlinear mechanisms and uniform (non-Gaussian) noise."""
    xs, graphs = [], []
    for _ in range(count):
        perm = rng.permutation(d)
        graph = np.zeros((d, d))
        for a in range(d):
            for b in range(a + 1, d):
                graph[perm[a], perm[b]] = rng.random() < 0.5
        weights = graph * rng.uniform(0.5, 2.0, (d, d)) * rng.choice([-1.0, 1.0], (d, d))
        x = np.zeros((n, d))
        for v in perm:
            x[:, v] = 2.0 * np.tanh(x @ weights[:, v]) + rng.uniform(-1.0, 1.0, n)
        xs.append(x)
        graphs.append(graph)
    return torch.tensor(np.stack(xs), dtype=torch.float32), torch.tensor(np.stack(graphs), dtype=torch.float32)


def reversed_edges(orders, graphs):
    position = torch.argsort(orders, dim=1)
    total = 0
    for b in range(graphs.shape[0]):
        cause, effect = torch.nonzero(graphs[b], as_tuple=True)
        total += int((position[b, cause] > position[b, effect]).sum())
    return total


def predict(model, x, chunk):
    with torch.no_grad():
        memory = model.init_memory(x.shape[0], x.shape[2], "cpu")
        for start in range(0, x.shape[1], chunk):
            memory = model.advance(memory, x[:, start : start + chunk])
        return model.decode(memory)[0]


def test_tiny_model_overfits_four_scms():
    torch.manual_seed(0)
    x, graphs = small_scms(4, 5, 200, np.random.default_rng(0))
    model = OrderModel(load_config("tiny").model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(80):
        memory = model.init_memory(4, 5, "cpu")
        for start in (0, 100):  # two chunks, one loss and one update per chunk
            memory = model.advance(memory, x[:, start : start + 100])
            loss = model.order_loss(memory, graphs, gen)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # as the training configs do
            optimizer.step()
            memory = model.detach(memory)
            losses.append(loss.item())
    model.eval()
    assert np.mean(losses[-10:]) < 0.1 * np.mean(losses[:4])
    assert reversed_edges(predict(model, x, 100), graphs) <= 1
