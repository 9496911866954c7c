"""The full-size SSRFNet (conf/ssrfnet.conf's model block, 75,164,380 parameters) trained by the real loop
for a couple of steps on a small data dir, for the DDP-equivalence tests: run alone or under torchrun, it
writes the gradients of step 1 (rank 0, after DDP's averaging) and every step's loss to
<exp-dir>/step1_grads.pt.

    python -m full_model_training --data DIR --exp-dir DIR [--batch-size N]      (tests/ on PYTHONPATH)

Everything random is switched off so that one process and several see the same arithmetic: no dropout, no
log-mel noise, no augmentation, no teacher; BatchNorm uses its running statistics (in DDP each rank would
normalise with its own half of the batch: the official code has no synchronised BatchNorm).
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

from ssrfnet.cli import all_option_names
from ssrfnet.config import config_dict, parse_args
from ssrfnet.models import build_model
from ssrfnet.models.options import add_model_options
from ssrfnet.train.options import add_train_options

from helpers import CONF_DIR

OVERRIDES = ["--svmixer-dropout=0", "--mel-noise=false", "--augment=false", "--kd-weight=0",
             "--init-student=false", "--max-steps=2", "--save-every=2", "--valid-every=0", "--log-every=1",
             "--num-workers=0", "--num-avg=1", "--warmup-steps=2"]


def _freeze_batchnorm(model: nn.Module) -> nn.Module:
    """model.train() keeps the BatchNorm layers in eval mode (normalised with their running statistics)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    original = model.train

    def train(mode: bool = True):
        original(mode)
        for norm in norms:
            norm.eval()
        return model

    model.train = train
    return model


def main(argv: list[str]) -> None:
    from ssrfnet.train.loop import train
    from ssrfnet.train.runconfig import RunConfig, RunPaths

    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--exp-dir", required=True)
    add_model_options(parser)
    add_train_options(parser)
    ns = parse_args(parser, ["--conf", str(CONF_DIR / "ssrfnet_rehearsal.conf"), *OVERRIDES, *argv],
                    other_keys=all_option_names())
    cfg = RunConfig("ssrfnet", config_dict(ns, add_model_options), config_dict(ns, add_train_options))
    paths = RunPaths(ns.data, None, None, ns.exp_dir)
    record = {"losses": [], "grads": None}
    rank0 = not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0

    def after_step(state):
        record["losses"].append(float(state.last_result.losses[0]))  # the batch mean over all ranks
        if state.step == 1:
            record["grads"] = {name: p.grad.detach().clone()
                               for name, p in state.parts.module.named_parameters() if p.grad is not None}
        if state.step == state.options["max_steps"] and rank0:
            torch.save(record, f"{ns.exp_dir}/step1_grads.pt")

    train(cfg, paths, build_model=lambda c: _freeze_batchnorm(build_model(c)), after_step=after_step)


if __name__ == "__main__":
    main(sys.argv[1:])
