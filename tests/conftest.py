"""Shared pytest settings: fast, CPU only, deterministic."""
import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Commands run in-process apply their automatic thread choice to this process; with one thread
# in the environment that choice is one thread too, whatever machine runs the suite.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
