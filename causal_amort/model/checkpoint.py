"""Checkpoints: weights as safetensors, a JSON of config and step, and the state that exact resume needs.

One checkpoint is three files sharing a stem in ``RUN/checkpoints/``:

- ``STEM.safetensors``: the model weights;
- ``STEM.state.pt``: the optimizer state, plain tensors and dicts written with ``torch.save`` and
  read back with ``weights_only=True`` (nothing is unpickled). No RNG state is needed: training
  draws everything random from (seed, step, rank), see causal_amort.training.train;
- ``STEM.json``: format, step, the resolved config, validation metrics. Written last, so a
  checkpoint whose JSON exists is complete (every file is written atomically).

Stems are ``step-00001234`` (the last few are kept) and ``best`` (weights and JSON only: the
checkpoint with the lowest validation error, a copy so that pruning never removes it).
"""
from __future__ import annotations

import json
from pickle import UnpicklingError  # what torch.load(weights_only=True) raises; nothing is unpickled
import re
from dataclasses import dataclass, fields
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from causal_amort.config import ModelConfig, RunConfig, config_from_dict, config_to_dict
from causal_amort.model.order_model import OrderModel
from simulators.core.atomic import atomic_path, atomic_write_text
from simulators.core.errors import InputError

FORMAT = "amort-checkpoint"
VERSION = 1
BEST = "best"
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "weights"
_STEP_STEM = re.compile(r"^step-(\d{8})$")


@dataclass
class Checkpoint:
    """A loaded checkpoint: what its JSON says, plus the training state when asked for."""

    json_path: Path
    step: int
    config: RunConfig
    metrics: dict
    train_state: dict | None


def step_stem(step: int) -> str:
    """The file stem of the checkpoint taken after ``step`` optimizer steps."""
    return f"step-{step:08d}"


def save_checkpoint(folder: Path, stem: str, model: torch.nn.Module, cfg: RunConfig, step: int, *,
                    metrics: dict | None = None, train_state: dict | None = None) -> Path:
    """Write checkpoint ``stem`` into ``folder`` (weights, optional training state, then JSON); return the JSON path."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"{stem}.safetensors") as tmp:
        # save_model (not save_file) copes with tied weights.
        safetensors.torch.save_model(model, str(tmp), metadata={"format": FORMAT, "step": str(step)})
    if train_state is not None:
        with atomic_path(folder / f"{stem}.state.pt") as tmp:
            torch.save(train_state, tmp)
    meta = {"format": FORMAT, "version": VERSION, "step": step, "metrics": metrics or {},
            "config": config_to_dict(cfg)}
    json_path = folder / f"{stem}.json"
    atomic_write_text(json_path, json.dumps(meta, indent=2) + "\n")
    return json_path


def step_checkpoints(folder: Path) -> list[Path]:
    """JSON paths of the complete step checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("step-*.json") if _STEP_STEM.match(p.stem)]
    return sorted(found, key=lambda p: int(_STEP_STEM.match(p.stem).group(1)))


def prune_checkpoints(folder: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` (at least 1) step checkpoints; ``best`` is never touched."""
    for json_path in step_checkpoints(folder)[: -max(1, keep_last)]:
        # JSON first: a crash half way leaves an incomplete checkpoint that nothing picks up.
        json_path.unlink(missing_ok=True)
        for suffix in (".safetensors", ".state.pt"):
            (folder / f"{json_path.stem}{suffix}").unlink(missing_ok=True)


def read_checkpoint(path: Path, *, train_state: bool = False) -> Checkpoint:
    """Read a checkpoint's JSON (and its training state if asked); InputError when it is corrupted."""
    json_path = _json_of(path)
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"checkpoint {json_path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"checkpoint {json_path} is corrupted ({_one_line(exc)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{json_path} is not an amort checkpoint")
    if meta.get("version") != VERSION:
        raise InputError(f"{json_path} has checkpoint format version {meta.get('version')}, "
                         f"this amort reads version {VERSION}")
    try:
        step, metrics = int(meta["step"]), dict(meta.get("metrics", {}))
        cfg = config_from_dict(meta["config"])
    except InputError as exc:
        raise InputError(f"checkpoint {json_path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"checkpoint {json_path} is corrupted ({_one_line(exc)})") from None
    state = None
    if train_state:
        state_path = json_path.parent / f"{json_path.stem}.state.pt"
        try:
            state = torch.load(state_path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise InputError(f"checkpoint {json_path} has no training state ({state_path.name} is missing)") from None
        except UnpicklingError:
            # torch's own message suggests weights_only=False, which is exactly what must not happen.
            raise InputError(f"checkpoint state {state_path} is corrupted or holds more than plain tensors "
                             "and dicts; it is not loaded") from None
        except (OSError, RuntimeError, EOFError, ValueError) as exc:
            raise InputError(f"checkpoint state {state_path} is corrupted ({_one_line(exc)})") from None
    return Checkpoint(json_path=json_path, step=step, config=cfg, metrics=metrics, train_state=state)


def load_weights(model: torch.nn.Module, json_path: Path, device: torch.device | str = "cpu",
                 missing_ok: tuple[str, ...] = ()) -> None:
    """Load the weights of checkpoint ``json_path`` into ``model``; InputError when missing or corrupted.
    Parameters whose names start with a prefix in ``missing_ok`` may be absent (they keep their values)."""
    weights = json_path.parent / f"{json_path.stem}.safetensors"
    try:
        missing, unexpected = safetensors.torch.load_model(model, str(weights), strict=False, device=str(device))
    except FileNotFoundError:
        raise InputError(f"checkpoint {json_path} has no weights ({weights.name} is missing)") from None
    except (OSError, RuntimeError, ValueError, safetensors.SafetensorError) as exc:
        raise InputError(f"checkpoint weights {weights} are corrupted ({_one_line(exc)})") from None
    missing = [name for name in missing if not name.startswith(missing_ok)] if missing_ok else missing
    if missing or unexpected:
        raise InputError(f"checkpoint weights {weights} do not fit the model in its JSON "
                         f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")


def resolve_checkpoint(path_or_default: str | Path) -> Path:
    """The JSON of what ``load_model`` accepts: a checkpoint file, a run folder (best, else last), or "default"."""
    if str(path_or_default) == "default":
        json_path = DEFAULT_DIR / "default.json"
        if not json_path.is_file() or not (DEFAULT_DIR / "default.safetensors").is_file():
            raise InputError(f"the default weights are not installed (expected {DEFAULT_DIR}/default.safetensors "
                             "and default.json); pass a checkpoint or a run folder instead")
        return json_path
    path = Path(path_or_default)
    if path.is_dir():
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        if (folder / f"{BEST}.json").is_file():
            return folder / f"{BEST}.json"
        steps = step_checkpoints(folder)
        if not steps:
            raise InputError(f"{path} holds no checkpoint")
        return steps[-1]
    if path.suffix not in (".json", ".safetensors"):
        raise InputError(f"{path} is not a checkpoint (expected a .safetensors or .json file, or a run folder)")
    if not path.exists():
        raise InputError(f"checkpoint {path} does not exist")
    json_path = _json_of(path)
    if not json_path.is_file():
        raise InputError(f"{path.name} needs {json_path.name} beside it in {path.parent}: the weights alone do not "
                         "say the model's config (sizes, decoder), which amort train writes to that file; "
                         "copy both files, or give the run folder")
    return json_path


def load_model(path_or_default: str | Path, device: torch.device | str = "cpu") -> tuple[OrderModel, RunConfig]:
    """An OrderModel in eval mode with its weights, and the run config it was trained with."""
    ckpt = read_checkpoint(resolve_checkpoint(path_or_default))
    model = OrderModel(ckpt.config.model)
    load_weights(model, ckpt.json_path, "cpu")
    return model.to(device).eval(), ckpt.config


# Model settings that change what the network reads or how it trains, not its weights: a run may
# start from weights trained under other values (fine-tuning onto another basis, say).
NOT_WEIGHTS = ("basis", "drop_cues", "cue_dropout", "cue_dropout_keep", "dropout", "pooled_sums", "lingam_gate",
               "lingam_max_d", "lingam_min_negentropy", "lingam_max_heteroscedasticity", "lingam_min_residual_negentropy",
               "lingam_rerank", "lingam_max_curvature", "lingam_order_bias",
               "lingam_order_min_d", "lingam_unclipped_rows", "dequantize_levels")
# Settings whose weights a run may start without (the source has them off, 0): the block the setting
# adds, named by this prefix, starts as the model builds it (zero output, or a head that inference
# never reads: the network starts as its source). Between two non-zero values the weights are the same.
ADDED_WEIGHTS = {"kernel_rows": "encoder.kernel_in.", "leaf_cues": "encoder.leaf_in.", "edge_head": "edge_head.",
                 "intervention_head": "encoder.intervention.", "tail_cues": "encoder.tail_",
                 "conditional_head": "conditional.", "lingam_rows": "encoder.lingam_",
                 "lingam_residual_moments": "encoder.lingam_moments_in."}
# Settings that shape only an `ADDED_WEIGHTS` block (-> its setting): free when the source lacks the block.
ADDED_SHAPES = {"lingam_reads_base": "lingam_rows"}


def init_checkpoint(source: str | Path, model_cfg: ModelConfig) -> Path:
    """The checkpoint JSON of ``source`` (what `load_model` accepts) for a run to start from: it must
    hold weights of the same network, ``model_cfg`` (up to `NOT_WEIGHTS`, `ADDED_WEIGHTS`, `ADDED_SHAPES`);
    InputError otherwise (load it with `load_weights`, ``missing_ok`` = the `ADDED_WEIGHTS` prefixes)."""
    ckpt = read_checkpoint(resolve_checkpoint(source))

    def fits(name: str) -> bool:
        theirs, ours = getattr(ckpt.config.model, name), getattr(model_cfg, name)
        if name in ADDED_WEIGHTS:
            return theirs == 0 or ours != 0
        if name in ADDED_SHAPES and not getattr(ckpt.config.model, ADDED_SHAPES[name]):
            return True
        return name in NOT_WEIGHTS or theirs == ours

    differ = [f.name for f in fields(ModelConfig) if not fits(f.name)]
    if differ:
        key = differ[0]
        raise InputError(f"cannot start from {source}: its model.{key} is {getattr(ckpt.config.model, key)!r}, "
                         f"this run's is {getattr(model_cfg, key)!r} (the network must be the same)")
    return ckpt.json_path


def _json_of(path: Path) -> Path:
    """``x.safetensors`` / ``x.state.pt`` / ``x.json`` -> ``x.json``."""
    name = path.name
    for suffix in (".safetensors", ".state.pt", ".json"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path


def _one_line(exc: BaseException) -> str:
    """An exception's message cut to its first line, for one-line errors."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
