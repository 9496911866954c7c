"""Training loop on CPU with a tiny stand-in model/teacher: outputs, NaN handling, config checks, and a
kill-and-resume run that must end with bit-identical weights to an uninterrupted one."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_data import make_data_dir  # noqa: E402

from ssrfnet.config import config_dict, parse_args  # noqa: E402
from ssrfnet.train.options import add_train_options  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
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

    def kill_after(step):
        if step == ns.kill_after_step:
            os.kill(os.getpid(), signal.SIGKILL)  # a crash: no clean-up of any kind

    return train(cfg, paths, force_new=ns.force_new, build_model=ToyModel,
                 build_teacher=lambda options, device: ToyTeacher(options["teacher_layers"]),
                 after_step=kill_after if ns.kill_after_step else None, command=" ".join(argv))


def run_subprocess(argv):
    here = str(Path(__file__).resolve().parent)
    code = f"import sys; sys.path.insert(0, {here!r}); import test_train_loop as t; t.toy_main(sys.argv[1:])"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    make_corpus(root)
    return root


def test_end_to_end_outputs(corpus, tmp_path):
    exp = tmp_path / "exp"
    final = toy_main(toy_args(corpus, exp))
    assert final == exp / "final.pt"
    for name in ("config.conf", "train.log", "spk2id", "final.json", "checkpoints/latest"):
        assert (exp / name).is_file(), name
    assert list((exp / "tensorboard").glob("events.out.tfevents.*"))
    ckpts = sorted(p.name for p in (exp / "checkpoints").glob("step_*.pt"))
    assert ckpts == ["step_00000004.pt", "step_00000008.pt", "step_00000012.pt"]
    assert (exp / "checkpoints/latest").read_text().strip() == "step_00000012.pt"
    text = (exp / "train.log").read_text()
    assert "validation EER" in text and "switching optimizer to sgd" in text
    assert "grad_norm" in text and "samples/s" in text
    obj = torch.load(final, weights_only=True)
    assert obj["format"] == "ssrfnet-model" and obj["model_part"] == "model"
    assert obj["train_info"]["step_range"] == [8, 12]
    ck = torch.load(exp / "checkpoints/step_00000012.pt", weights_only=True)
    assert ck["optimizer_name"] == "sgd" and ck["step"] == 12
    for key in ("model", "kd", "aam", "optimizer", "scheduler", "scaler", "rng", "epoch", "batch",
                "config_digest"):
        assert key in ck, key
    assert "--batch-size=4" in (exp / "config.conf").read_text()


def test_changed_model_config_is_refused(corpus, tmp_path):
    from ssrfnet.train.runconfig import TrainError

    exp = tmp_path / "exp"
    toy_main(toy_args(corpus, exp, "--max-steps", "4", "--valid-every", "0"))
    with pytest.raises(TrainError, match="teacher-layers"):
        toy_main(toy_args(corpus, exp, "--max-steps", "8", "--teacher-layers", "1,2"))
    # a non-shaping change (more steps) resumes
    toy_main(toy_args(corpus, exp, "--max-steps", "8", "--valid-every", "0"))
    assert (exp / "checkpoints/step_00000008.pt").is_file()
    assert "option --max-steps changed since the last start: '4' -> '8'" in (exp / "train.log").read_text()
    toy_main(toy_args(corpus, exp, "--max-steps", "4", "--valid-every", "0", "--teacher-layers", "1,2",
                      "--force-new"))
    assert list(exp.glob("checkpoints.old-*"))


def test_nan_steps_are_skipped_then_abort(corpus, tmp_path):
    from ssrfnet.train.runconfig import TrainError

    exp = tmp_path / "exp"
    with pytest.raises(TrainError, match="consecutive steps"):
        toy_main(toy_args(corpus, exp, "--max-nan-steps", "3", "--valid-every", "0"), {"toy_nan_after": 5})
    text = (exp / "train.log").read_text()
    assert "step skipped" in text
    # the good checkpoint of step 4 is intact; nothing was written from the NaN state
    assert (exp / "checkpoints/latest").read_text().strip() == "step_00000004.pt"
    ck = torch.load(exp / "checkpoints/step_00000004.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ck["model"].values())


def _weights(path):
    ck = torch.load(path, weights_only=True)
    return ck


def test_kill_and_resume_is_bit_identical(corpus, tmp_path):
    ref = tmp_path / "ref"
    res = run_subprocess(toy_args(corpus, ref, "--valid-every", "0"))
    assert res.returncode == 0, res.stderr[-2000:]
    crashed = tmp_path / "crashed"
    res = run_subprocess(toy_args(corpus, crashed, "--valid-every", "0", "--kill-after-step", "6"))
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert (crashed / "checkpoints/latest").read_text().strip() == "step_00000004.pt"
    assert not (crashed / "final.pt").exists()
    res = run_subprocess(toy_args(corpus, crashed, "--valid-every", "0"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resuming from" in (crashed / "train.log").read_text()
    a = _weights(ref / "checkpoints/step_00000012.pt")
    b = _weights(crashed / "checkpoints/step_00000012.pt")
    for part in ("model", "kd", "aam"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    for key, value in a["optimizer"]["state"].items():
        for name, tensor in value.items():
            assert torch.equal(tensor, b["optimizer"]["state"][key][name])
    fa = torch.load(ref / "final.pt", weights_only=True)["state_dict"]
    fb = torch.load(crashed / "final.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(fa[k], fb[k]) for k in fa)


def test_distill_mode_and_init(corpus, tmp_path):
    exp = tmp_path / "distill"
    final = toy_main(toy_args(corpus, exp, "--mode", "distill", "--max-steps", "4", "--valid-every", "4"))
    obj = torch.load(final, weights_only=True)
    assert obj["model_part"] == "student" and "kd_state_dict" in obj
    assert "validation EER" in (exp / "train.log").read_text()
    exp3 = tmp_path / "ssrfnet"
    toy_main(toy_args(corpus, exp3, "--max-steps", "2", "--valid-every", "0", "--init-student", "true",
                      "--init", str(final)))
    assert "student initialised from" in (exp3 / "train.log").read_text()


@pytest.mark.slow
def test_ddp_two_cpu_processes(corpus, tmp_path):
    """torchrun with 2 gloo ranks: runs to the end, rank 0 alone writes, global batch split over ranks."""
    script = tmp_path / "run_toy.py"
    script.write_text(f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
                      "import test_train_loop as t; t.toy_main(sys.argv[1:])\n")
    exp = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(script),
           *toy_args(corpus, exp, "--max-steps", "6", "--valid-every", "6")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    text = (exp / "train.log").read_text()
    assert "2 rank(s) x 2 per batch" in text and "validation EER" in text
    assert (exp / "final.pt").is_file()
    ck = torch.load(exp / "checkpoints/step_00000004.pt", weights_only=True)
    assert ck["world_size"] == 2
