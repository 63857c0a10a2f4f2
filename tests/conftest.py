"""Shared pytest settings: fast, CPU only, deterministic."""
import importlib.util
import os
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Commands run in-process apply their automatic thread choice to this process; with one thread
# in the environment that choice is one thread too, whatever machine runs the suite.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


import pytest  # noqa: E402

from simulators.storage.csvio import write_csv_dataset  # noqa: E402
from simulators.storage.io import iter_datasets  # noqa: E402
from simulators.prior.spec import load_spec  # noqa: E402
from simulators.storage.suite import SuitePlan, write_suite  # noqa: E402


@pytest.fixture(scope="session")
def small_suite(tmp_path_factory):
    """A folder with ``suite`` (5 test-in SCMs, n = 120, d = 4..6) and ``csvs`` (its first 2 as CSV files)."""
    root = tmp_path_factory.mktemp("small")
    plan = SuitePlan(load_spec("test-in"), num_datasets=5, n=120, d_min=4, d_max=6, seed=3)
    for _ in write_suite(plan, root / "suite"):
        pass
    for dataset in list(iter_datasets(root / "suite"))[:2]:
        write_csv_dataset(root / "csvs", dataset)
    return root


@pytest.fixture(scope="session")
def script_module():
    """Loads ``scripts/NAME.py`` as a module: ``script_module("real_data")``."""
    scripts = Path(__file__).resolve().parents[1] / "scripts"

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
