"""The start of stage 7 (large-margin fine-tuning, --mode lmft): the whole model, and the AAM head, from the
averaged stage-3 model file (`exp/<name>/final.pt`, given as --init).

The model file holds the model's weights and, since stage 3 keeps it there, the average of the AAM head
(`aam_state_dict`): the classifier rows of the training speakers, so that the larger margin starts from a
trained head rather than a random one. The head is taken when the speakers are the same as stage 3's
(`spk2id` beside the model file, or the same speaker count when that file is absent); when stage 3 had
speed perturbation and stage 7 does not, the original speakers come first in stage 3's index, so their rows
are taken. Otherwise the head starts afresh, with a warning. The inverse-frequency class weights are always
those of this run's data.

A model file of another model type, a stage-2 student file, or weights that do not fit this model
configuration are errors naming the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ssrfnet.data import read_spk2id
from ssrfnet.errors import CheckpointError
from ssrfnet.models.checkpoint import read_checkpoint
from ssrfnet.train.runconfig import TrainError
from ssrfnet.train.step import TrainModule

log = logging.getLogger("ssrfnet.train")


def read_model_file(path: str) -> dict:
    try:
        obj = read_checkpoint(path)
    except CheckpointError as err:
        raise TrainError(f"--init {err}") from err
    if not isinstance(obj, dict) or obj.get("format") != "ssrfnet-model" or "state_dict" not in obj:
        raise TrainError(f"--init {path}: not an ssrfnet model file (stage 7 starts from the averaged "
                         "stage-3 model, exp/<name>/final.pt)")
    if obj.get("model_part", "model") != "model":
        raise TrainError(f"--init {path}: a stage-2 {obj.get('model_part')} file, not a whole model; stage 7 "
                         "starts from the stage-3 model (exp/<name>/final.pt)")
    return obj


def check_model_type(obj: dict, path: str, model_config: dict) -> None:
    theirs = obj.get("config", {}).get("model_type", "ssrfnet")
    ours = model_config.get("model_type", "ssrfnet")
    if theirs != ours:
        raise TrainError(f"--init {path}: a --model-type={theirs} model file, but this run fine-tunes "
                         f"--model-type={ours}; start stage 7 from the final.pt of the same experiment")


def init_from_model(module: TrainModule, path: str, model_config: dict, spk2id: dict[str, int]) -> None:
    """Stage 7: the model's weights from the stage-3 model file at `path`, and its AAM head where it fits."""
    obj = read_model_file(path)
    check_model_type(obj, path, model_config)
    try:
        module.model.load_state_dict(obj["state_dict"], strict=True)
    except RuntimeError as err:
        lines = str(err).splitlines()
        first = lines[1].strip() if len(lines) > 1 else str(err)
        raise TrainError(f"--init {path}: its weights do not fit this model configuration ({first})") from err
    log.info("model initialised from %s", path)
    if module.aam is not None:
        init_aam_head(module.aam, obj.get("aam_state_dict"), path, spk2id)


def head_rows(path: str, num_rows: int, spk2id: dict[str, int]) -> str | None:
    """None when the first len(spk2id) rows of the stage-3 head are this run's speakers, else why not."""
    if num_rows < len(spk2id):
        return f"it has {num_rows} speakers, this run {len(spk2id)}"
    saved = Path(path).parent / "spk2id"
    if saved.is_file():
        theirs = read_spk2id(saved)
        if any(theirs.get(spk) != label for spk, label in spk2id.items()):
            return f"the speakers of {saved} differ from this run's"
        return None
    if num_rows != len(spk2id):
        return f"it has {num_rows} speakers, this run {len(spk2id)}, and there is no {saved} to match them"
    return None


def init_aam_head(aam, state: dict | None, path: str, spk2id: dict[str, int]) -> None:
    if state is None or "weight" not in state:
        log.warning("AAM head not initialised: %s holds none (written before stage 3 kept it); it starts "
                    "afresh", path)
        return
    weight = state["weight"]
    if weight.shape[1] != aam.weight.shape[1]:
        log.warning("AAM head not initialised from %s: embedding size %d, this model %d", path,
                    weight.shape[1], aam.weight.shape[1])
        return
    why = head_rows(path, weight.shape[0], spk2id)
    if why is not None:
        log.warning("AAM head not initialised from %s: %s; it starts afresh", path, why)
        return
    with torch.no_grad():
        aam.weight.copy_(weight[: len(spk2id)].to(aam.weight.dtype))
    log.info("AAM head initialised from %s (%d speakers)", path, len(spk2id))
