"""Training loop on CPU with a tiny stand-in model/teacher: outputs, NaN handling, config checks, and a
kill-and-resume run that must end with bit-identical weights to an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import torch

from helpers import REPO
from toy_training import make_corpus, run_toy, toy_args, toy_main


def subprocess_env() -> dict:
    return dict(os.environ, PYTHONPATH=f"{REPO}:{REPO / 'tests'}", OMP_NUM_THREADS="1",
                CUDA_VISIBLE_DEVICES="")



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
    assert "grad_norm" in text and "samples/s" in text and "data_wait" in text
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
    res = run_toy(toy_args(corpus, ref, "--valid-every", "0"))
    assert res.returncode == 0, res.stderr[-2000:]
    crashed = tmp_path / "crashed"
    res = run_toy(toy_args(corpus, crashed, "--valid-every", "0", "--kill-after-step", "6"))
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert (crashed / "checkpoints/latest").read_text().strip() == "step_00000004.pt"
    assert not (crashed / "final.pt").exists()
    res = run_toy(toy_args(corpus, crashed, "--valid-every", "0"))
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
    exp = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "toy_training", *toy_args(corpus, exp, "--max-steps", "6", "--valid-every", "6")]
    env = subprocess_env()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    text = (exp / "train.log").read_text()
    assert "2 rank(s) x 2 per batch" in text and "validation EER" in text
    assert (exp / "final.pt").is_file()
    ck = torch.load(exp / "checkpoints/step_00000004.pt", weights_only=True)
    assert ck["world_size"] == 2
