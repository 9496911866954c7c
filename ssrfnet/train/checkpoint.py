"""Training checkpoints: atomic writes, a `latest` pointer, pruning, RNG capture/restore, averaging.

A training checkpoint `checkpoints/step_00012000.pt` is one dict loadable with torch.load(weights_only=True):
format tag and version, effective config and its model digest, global step, sampler position (epoch, batch),
the model / KD-head / AAM-head state dicts, the active optimizer's name and state, scheduler and grad-scaler
state, every RNG state (python, numpy, torch CPU and CUDA) and the NaN counters. It is written to a temporary
file and renamed (`atomic_torch_save`); only then is `checkpoints/latest` (a one-line text file naming it)
replaced, also atomically, and only then are old checkpoints pruned. A process killed at any instant therefore
leaves `latest` naming a complete file. `find_resume_checkpoint` also survives a missing/corrupt pointer by
falling back to the newest step file that loads.
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from ssrfnet.errors import CheckpointError
from ssrfnet.fileio import atomic_torch_save, atomic_write_json, atomic_write_text
from ssrfnet.models.checkpoint import write_model_file

log = logging.getLogger(__name__)

CKPT_FORMAT = "ssrfnet-train-checkpoint"
CKPT_VERSION = 1
_STEP_FILE = re.compile(r"^step_(\d{8,})\.pt$")


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}.pt"


# -- RNG state ------------------------------------------------------------------------------------------
def capture_rng() -> dict:
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state["numpy"]
    np.random.set_state({
        "bit_generator": npst["bit_generator"],
        "state": {"key": npst["key"].numpy().astype(np.uint32), "pos": npst["pos"]},
        "has_gauss": npst["has_gauss"],
        "gauss": npst["gauss"],
    })
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            log.warning("checkpoint has %d CUDA RNG states for %d devices: CUDA RNG not restored",
                        len(cuda_states), torch.cuda.device_count())


# -- files ----------------------------------------------------------------------------------------------
def list_checkpoints(ckpt_dir: str | os.PathLike) -> list[Path]:
    """Step checkpoints in step order (names are zero-padded)."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    return sorted(p for p in ckpt_dir.iterdir() if _STEP_FILE.match(p.name))


def load_checkpoint(path: str | os.PathLike) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: cannot load checkpoint: {err}") from err
    if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
        raise CheckpointError(f"{path}: not a training checkpoint (format {CKPT_FORMAT!r} expected)")
    if state.get("version", 0) > CKPT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state['version']} is newer than this code")
    return state


def readable(path: str | os.PathLike) -> str | None:
    """None when `path` loads as a training checkpoint (memory-mapped: the zip directory and the pickle are
    read, not the tensors), else why not. Cheap enough to ask before each pruning."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # truncated, empty, random bytes: a zoo of types
        return f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
    if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
        return f"not a training checkpoint (format {CKPT_FORMAT!r} expected)"
    return None


def save_checkpoint(ckpt_dir: str | os.PathLike, state: dict, keep: int = 0) -> Path:
    """Write `state` as step_<step>.pt, check that it reads back, point `latest` at it, then prune to the
    newest `keep` readable checkpoints (0 = keep all). A checkpoint that does not read back is an error
    before anything older is touched."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    state = dict(state, format=CKPT_FORMAT, version=CKPT_VERSION)
    path = ckpt_dir / checkpoint_name(int(state["step"]))
    atomic_torch_save(state, path)
    why = readable(path)
    if why is not None:
        raise CheckpointError(f"{path}: written but does not read back ({why}); the older checkpoints are "
                              "kept and checkpoints/latest still names the last good one")
    atomic_write_text(ckpt_dir / "latest", path.name + "\n")
    if keep > 0:
        prune(ckpt_dir, keep, newest=path)
    return path


def prune(ckpt_dir: Path, keep: int, newest: Path | None = None) -> None:
    """Keep the newest `keep` readable checkpoints: older readable ones are deleted, unreadable ones are
    renamed to `<name>.unreadable` (named in the log, never counted among the kept), so pruning can never
    delete a good checkpoint while it keeps a bad one."""
    kept = 0
    for path in reversed(list_checkpoints(ckpt_dir)):
        why = None if path == newest else readable(path)
        if why is not None:
            aside = path.with_name(path.name + ".unreadable")
            os.replace(path, aside)
            log.warning("%s: unreadable checkpoint (%s), moved to %s", path, why, aside.name)
        elif kept < keep:
            kept += 1
        else:
            path.unlink(missing_ok=True)


def select_for_average(ckpt_dir: str | os.PathLike, num: int, max_step: int | None = None,
                       ) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(the newest `num` readable checkpoints up to `max_step`, in step order; [(skipped path, why)])."""
    chosen, skipped = [], []
    for path in reversed(list_checkpoints(ckpt_dir)):
        if len(chosen) >= num:
            break
        if max_step is not None and int(_STEP_FILE.match(path.name).group(1)) > max_step:
            continue
        why = readable(path)
        if why is None:
            chosen.append(path)
        else:
            skipped.append((path, why))
            log.warning("%s: unreadable checkpoint left out of the average (%s)", path, why)
    return chosen[::-1], skipped


def find_resume_checkpoint(ckpt_dir: str | os.PathLike) -> tuple[Path, dict] | None:
    """The checkpoint to resume from: the one `latest` names, else the newest step file that loads."""
    ckpt_dir = Path(ckpt_dir)
    candidates = []
    pointer = ckpt_dir / "latest"
    if pointer.is_file():
        name = pointer.read_text().strip()
        if name:
            candidates.append(ckpt_dir / name)
    candidates += [p for p in reversed(list_checkpoints(ckpt_dir)) if p not in candidates]
    for path in candidates:
        if not path.is_file():
            log.warning("%s: named by %s but missing", path, pointer)
            continue
        try:
            return path, load_checkpoint(path)
        except CheckpointError as err:
            log.warning("skipping unreadable checkpoint: %s", err)
    return None


# -- model files and averaging --------------------------------------------------------------------------
def average_state_dicts(states: list[dict]) -> dict:
    """Element-wise mean of float tensors (in float64, cast back); integer buffers from the last one."""
    if not states:
        raise CheckpointError("nothing to average")
    keys = list(states[-1].keys())
    for i, sd in enumerate(states):
        if list(sd.keys()) != keys:
            raise CheckpointError(f"checkpoint {i} has different parameters from the others")
    out = {}
    for key in keys:
        last = states[-1][key]
        if torch.is_floating_point(last):
            acc = torch.zeros_like(last, dtype=torch.float64)
            for sd in states:
                acc += sd[key].to(torch.float64)
            out[key] = (acc / len(states)).to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def average_checkpoints(paths: list[Path], out_path: str | os.PathLike) -> dict:
    """Average the model (and KD-head, AAM-head) weights of training checkpoints into a model file; returns
    the info dict that is also written next to it as <out>.json."""
    if not paths:
        raise CheckpointError("no checkpoints to average")
    states = [load_checkpoint(p) for p in paths]
    last = states[-1]
    model_sd = average_state_dicts([s["model"] for s in states])
    extra = {}
    if last.get("kd") is not None:
        extra["kd_state_dict"] = average_state_dicts([s["kd"] for s in states])
    if last.get("aam") is not None:  # the speaker classifier, where stage 7 starts from
        extra["aam_state_dict"] = average_state_dicts([s["aam"] for s in states])
    info = {
        "checkpoints": [str(p) for p in paths],
        "steps": [int(s["step"]) for s in states],
        "step_range": [int(states[0]["step"]), int(last["step"])],
        "mode": last.get("mode"),
        "config_digest": last.get("config_digest"),
    }
    extra["train_info"] = {k: v for k, v in info.items() if k != "checkpoints"}
    extra["train_info"]["kd_config"] = last.get("kd_config")
    extra["train_info"]["num_classes"] = last.get("num_classes")
    # stage 2 trains the student alone: its file holds the student's weights (+ KD heads), not a whole model
    extra["model_part"] = "student" if last.get("mode") == "distill" else "model"
    write_model_file(out_path, last["model_config"], model_sd, **extra)
    atomic_write_json(Path(out_path).with_suffix(".json"), info, indent=2)
    return info
