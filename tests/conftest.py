"""Shared pytest settings: fast, CPU only, deterministic."""
import os

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import torch  # noqa: E402

torch.set_num_threads(1)
