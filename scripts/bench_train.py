"""Training throughput per model size: the model step and the data pipeline, timed apart.

    python scripts/bench_train.py                        # CPU, one thread, tiny/small/base
    python scripts/bench_train.py --device cuda          # GPU, bf16 per config; TFLOP/s vs peak
    python scripts/bench_train.py --device cuda --bf16 --sizes default-cpu   # bf16 also where the config has none
    python scripts/bench_train.py --sizes cells-cpu,default-cpu --d 20 --n 1000 --threads 2   # both encoders

For each size the batch shape is fixed (d and chunk count in the middle of the config's ranges,
or --d and --n rows in the config's chunks) so that sizes and machines compare. The model step is forward + backward over every chunk +
AdamW, on batches made before timing; the first step is a warm-up and is not counted. The data
pipeline is the simulation of the same batches in one process: a DataLoader with W workers
makes about W times that, so the model starves when ``data tasks/s x workers < model tasks/s``.
FLOPs of one step are counted with torch.utils.flop_counter.FlopCounterMode (matmuls and
attention; elementwise work is not counted, so achieved TFLOP/s is a lower bound).
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from causal_amort.config import load_config
from causal_amort.model.order_model import OrderModel
from causal_amort.runtime.threads import apply_threads
from causal_amort.training.task_data import step_seeds, task_source
from causal_amort.training.train import build_optimizer, train_step

# Dense bf16 tensor-core peak (no sparsity), FLOP/s, by a substring of the device name.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "V100": 125e12}


def bench_size(name: str, device: torch.device, steps: int, batch_size: int | None,
               d: int | None = None, n: int | None = None, bf16: bool | None = None) -> dict:
    """Timings of one named config with its batch shape fixed (mid-range d and chunk count by default);
    ``bf16`` on a GPU overrides the config's train.bf16."""
    base = load_config(name)
    d = d or (base.data.d_min + base.data.d_max) // 2
    chunks = max(1, n // base.data.chunk_size) if n else (base.data.chunks_min + base.data.chunks_max + 1) // 2
    cfg = load_config(name, {"data.d_min": d, "data.d_max": d, "data.chunks_min": chunks, "data.chunks_max": chunks,
                             **({"data.batch_size": batch_size} if batch_size else {}),
                             **({"train.bf16": bf16} if bf16 is not None else {})})
    source = task_source(cfg.data, cfg.train.seed)

    start = time.perf_counter()
    batches = [source.batch(step, 0) for step in range(steps + 1)]
    data_s = (time.perf_counter() - start) / len(batches)

    torch.manual_seed(0)
    model = OrderModel(cfg.model).to(device).train()
    optimizer, flat_grad = build_optimizer(model, cfg.train)
    bf16 = cfg.train.bf16 and device.type == "cuda"

    def one_step(batch) -> None:
        teacher = torch.Generator().manual_seed(step_seeds(0, batch.step, 0)[1])
        train_step(model, batch, device, cfg.data.chunk_size, cfg.train.tbptt, teacher, bf16,
                   last_only=cfg.train.loss_chunks == "last")
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        optimizer.step()
        flat_grad.zero_()

    counter = FlopCounterMode(display=False)
    with counter:
        one_step(batches[0])  # warm-up (allocator, kernels), not timed; FLOPs are counted here
    flops = counter.get_total_flops()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for batch in batches[1:]:
        one_step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    step_s = (time.perf_counter() - start) / steps
    b = cfg.data.batch_size
    return {
        "size": name, "params": sum(p.numel() for p in model.parameters()), "batch": b, "d": d,
        "n": chunks * cfg.data.chunk_size, "chunks": chunks, "bf16": bf16, "step_s": step_s,
        "tasks_per_s": b / step_s, "samples_per_s": b * chunks * cfg.data.chunk_size / step_s,
        "data_tasks_per_s": b / data_s, "workers": cfg.data.workers, "tflops": flops / step_s / 1e12,
        "peak_mem_gb": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="tiny,small,base")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per size (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    parser.add_argument("--batch-size", type=int, default=None, help="override every size's batch size")
    parser.add_argument("--d", type=int, default=None, help="variables per task (default: mid-range of the config)")
    parser.add_argument("--n", type=int, default=None, help="rows per task, in the config's chunks (default: mid-range)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="on a GPU, bf16 autocast for every size, or not (default: each config's train.bf16)")
    args = parser.parse_args()
    apply_threads(args.threads)  # torch, BLAS and OpenMP together
    device = torch.device(args.device)
    peak = None
    where = f"CPU, {args.threads} thread(s)"
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
        peak = next((v for k, v in PEAK_BF16.items() if k in where), None)
        torch.backends.cuda.matmul.allow_tf32 = True
    print(f"# bench_train on {where}; torch {torch.__version__}; {args.steps} timed steps per size")
    print("| size | params | batch x d x n (chunks) | bf16 | step s | model tasks/s | samples/s "
          "| data tasks/s (1 proc) | workers | TFLOP/s | % peak | peak GiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.sizes.split(","):
        r = bench_size(name, device, args.steps, args.batch_size, args.d, args.n, args.bf16)
        pct = f"{100 * r['tflops'] * 1e12 / peak:.1f}" if peak else "-"
        mem = f"{r['peak_mem_gb']:.2f}" if r["peak_mem_gb"] is not None else "-"
        print(f"| {r['size']} | {r['params']:,} | {r['batch']} x {r['d']} x {r['n']} ({r['chunks']}) | {r['bf16']} "
              f"| {r['step_s']:.3g} | {r['tasks_per_s']:.3g} | {r['samples_per_s']:,.0f} | {r['data_tasks_per_s']:.3g} "
              f"| {r['workers']} | {r['tflops']:.3f} | {pct} | {mem} |", flush=True)


if __name__ == "__main__":
    main()
