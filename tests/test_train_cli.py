"""ssrfnet.bin.train with the real models (a tiny SSRFNet, a tiny random WavLM teacher) on CPU:
stage 2 (distill) then stage 3 (ssrfnet) initialised from it; the result loads with load_model."""

from __future__ import annotations

import os
import subprocess

import pytest
import torch

from helpers import REPO, TINY_MODEL_ARGS, all_pairs_trials, make_data_dir


@pytest.fixture(autouse=True)
def _two_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


def common(tmp_path, data, exp):
    trials = all_pairs_trials(data, tmp_path / "trials")
    return ["--conf", str(REPO / "egs/voxceleb/conf/ssrfnet_mini.conf"), *TINY_MODEL_ARGS,
            "--train-data", str(data), "--dev-data", str(data), "--dev-trials", str(trials),
            "--exp-dir", str(exp), "--batch-size=2", "--max-steps=2", "--distill-max-steps=2",
            "--num-workers=0", "--save-every=1", "--valid-every=2", "--log-every=1", "--num-avg=2",
            "--teacher", str(tmp_path / "teacher"), "--aug-types=clip,colored", "--aug-weights=1,1",
            "--musan-dir", str(tmp_path / "none"), "--rirs-dir", str(tmp_path / "none")]


@pytest.mark.slow
def test_distill_then_ssrfnet(tmp_path):
    from ssrfnet.bin.train import main
    from ssrfnet.models import load_model

    data = make_data_dir(tmp_path, num_spk=2, per_spk=2, seconds=(3.1, 3.6))
    rc = main(["--mode", "distill", *common(tmp_path, data, tmp_path / "svmixer")])
    assert rc == 0
    assert (tmp_path / "teacher" / "config.json").is_file()  # random teacher created
    stage2 = torch.load(tmp_path / "svmixer/final.pt", weights_only=True)
    assert stage2["model_part"] == "student" and stage2["kd_state_dict"]
    exp = tmp_path / "ssrfnet"
    init = str(tmp_path / "svmixer/final.pt")
    rc = main(["--mode", "ssrfnet", *common(tmp_path, data, exp), "--init", init])
    assert rc == 0
    log = (exp / "train.log").read_text()
    assert "student initialised" in log and "validation EER" in log
    model = load_model(exp / "final.pt")
    assert model(torch.zeros(1, 48000)).shape == (1, 192)
    conf = (exp / "config.conf").read_text()
    assert "--svmixer-cnn-channels=16" in conf and "--batch-size=2" in conf
    # the same command again: already finished, resumes at the end and rewrites nothing but final.pt
    assert main(["--mode", "ssrfnet", *common(tmp_path, data, exp), "--init", str(tmp_path / "x.pt")]) == 0
    # a different model block is refused
    assert main(["--mode", "ssrfnet", *common(tmp_path, data, exp), "--svmixer-layers=6"]) == 1


@pytest.mark.slow
def test_steps_train_sh_cpu(tmp_path):
    data = make_data_dir(tmp_path, num_spk=2, per_spk=2, seconds=(3.1, 3.6))
    args = common(tmp_path, data, tmp_path / "exp")
    conf, rest = args[1], args[2:]
    opts = " ".join(a for a in rest if a.startswith("--") and "=" in a)
    cmd = ["steps/train.sh", "--mode", "distill", "--conf", conf, "--augment-dir", str(tmp_path / "none"),
           "--train-opts", f"{opts} --teacher {tmp_path / 'teacher'}", "--gpus", "0",
           str(data), str(data), str(tmp_path / "exp")]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (tmp_path / "exp/final.pt").is_file()
    assert "# Ended (code 0)" in (tmp_path / "exp/log/train.log").read_text()
