"""A toy speaker model and teacher trained by the real training loop (ssrfnet.train.loop): small enough for
tests to run whole trainings, resumes and DDP in seconds.

    python -m toy_training <toy_args ...> [--kill-after-step N]   (tests/ must be on PYTHONPATH)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn

from ssrfnet.config import config_dict, parse_args
from ssrfnet.train.options import add_train_options

from helpers import REPO, make_data_dir

HOP = 320


class ToyStudent(nn.Module):
    def __init__(self, hidden=16, layers=2):
        super().__init__()
        self.hidden_size, self.num_layers = hidden, layers
        self.front = nn.Conv1d(1, hidden, HOP, stride=HOP)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(0.1))
                                    for _ in range(layers))

    def forward(self, wav):
        x = self.front(wav.unsqueeze(1)).transpose(1, 2)
        states = [x]
        for block in self.blocks:
            x = x + block(x)
            states.append(x)
        return torch.stack(states, 1)


class ToyModel(nn.Module):
    crop_samples = 3200

    def __init__(self, cfg):
        super().__init__()
        self.student = ToyStudent(cfg["toy_hidden"])
        self.embed_dim = 8
        self.proj = nn.Linear(cfg["toy_hidden"], self.embed_dim)
        self.nan_after = cfg.get("toy_nan_after", 0)
        self.calls = 0

    def forward_train(self, wav):
        self.calls += 1
        hidden = self.student(wav)
        emb = self.proj(hidden[:, -1].mean(1))
        if self.nan_after and self.calls > self.nan_after:
            emb = emb * float("nan")
        return emb, hidden

    def forward(self, wav):
        return self.forward_train(wav)[0]


class ToyTeacher(nn.Module):
    def __init__(self, layers):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.hidden_size = 12
        self.w = torch.randn(len(layers), HOP, 12, generator=g) * 0.1

    def forward(self, wav):
        frames = wav.reshape(wav.shape[0], -1, HOP)
        return torch.einsum("btn,knh->bkth", frames, self.w)


def make_corpus(root: Path):
    data = make_data_dir(root, num_spk=4, per_spk=6, seconds=(0.15, 0.5))
    # speaker-dependent tones so the toy model can learn something
    for line in (data / "wav.scp").read_text().splitlines():
        utt, path = line.split(" ", 1)
        spk = int(utt[3:5])
        n = sf.info(path).frames
        t = np.arange(n) / 16000
        rng = np.random.default_rng(abs(hash(utt)) % 2**32)
        x = 0.3 * np.sin(2 * np.pi * (200 + 150 * spk) * t) + 0.05 * rng.standard_normal(n)
        sf.write(path, x.astype(np.float32), 16000, subtype="FLOAT")
    utts = [line.split()[0] for line in (data / "utt2spk").read_text().splitlines()]
    trials = []
    for i, a in enumerate(utts):
        for b in utts[i + 1:i + 6]:
            trials.append(f"{a} {b} {'target' if a[:5] == b[:5] else 'nontarget'}\n")
    (data / "trials").write_text("".join(trials))
    noise = root / "musan_noise"
    noise.mkdir()
    noise_wave = (np.random.default_rng(0).standard_normal(8000) * 0.1).astype(np.float32)
    sf.write(root / "n1.wav", noise_wave, 16000)
    (noise / "wav.scp").write_text(f"n1 {root / 'n1.wav'}\n")
    return data


def toy_args(root: Path, exp: Path, *extra):
    data = root / "data"
    return ["--train-data", str(data), "--dev-data", str(data), "--dev-trials", str(data / "trials"),
            "--musan-dir", str(root), "--exp-dir", str(exp), "--batch-size", "4", "--max-steps", "12",
            "--num-workers", "0", "--save-every", "4", "--valid-every", "6", "--log-every", "2",
            "--warmup-steps", "2", "--sgd-switch-step", "7", "--sgd-warmup-steps", "2", "--lr-max", "0.01",
            "--sgd-lr-max", "0.05", "--num-avg", "2", "--keep-checkpoints", "3", "--teacher", "toy",
            "--aug-types", "noise,clip,colored", "--aug-weights", "1,1,1", "--kd-weight", "0.01",
            "--init-student", "false", "--seed", "11", *extra]


def toy_main(argv, extra_cfg=None):
    """Train the toy model with the real loop; `--kill-after-step N` SIGKILLs the process after step N."""
    from ssrfnet.train.loop import train
    from ssrfnet.train.runconfig import RunConfig, RunPaths

    parser = argparse.ArgumentParser()
    for name in ("--mode", "--train-data", "--dev-data", "--dev-trials", "--musan-dir", "--exp-dir",
                 "--init"):
        parser.add_argument(name, default=None)
    parser.add_argument("--kill-after-step", type=int, default=0)
    parser.add_argument("--force-new", action="store_true")
    add_train_options(parser)
    ns = parse_args(parser, argv)
    cfg = RunConfig(ns.mode or "ssrfnet", {"toy_hidden": 16, **(extra_cfg or {})},
                    config_dict(ns, add_train_options))
    paths = RunPaths(ns.train_data, ns.dev_data, ns.dev_trials, ns.exp_dir, ns.musan_dir, None, ns.init)

    def kill_after(state):
        if state.step == ns.kill_after_step:
            os.kill(os.getpid(), signal.SIGKILL)  # a crash: no clean-up of any kind

    return train(cfg, paths, force_new=ns.force_new, build_model=ToyModel,
                 build_teacher=lambda options, device: ToyTeacher(options["teacher_layers"]),
                 after_step=kill_after if ns.kill_after_step else None, command=" ".join(argv))


def run_toy(argv, timeout: int = 120) -> subprocess.CompletedProcess:
    """toy_main(argv) in a process of its own, on one CPU thread (so that --kill-after-step can kill it)."""
    env = dict(os.environ, PYTHONPATH=f"{REPO}:{REPO / 'tests'}", OMP_NUM_THREADS="1",
               CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, "-m", "toy_training", *argv], env=env, capture_output=True,
                          text=True, timeout=timeout)


if __name__ == "__main__":
    toy_main(sys.argv[1:])
