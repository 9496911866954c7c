"""Stage 7, large-margin fine-tuning (--mode lmft), with the toy model of toy_training.py and with a tiny real
ReDimNet: the start from the averaged stage-3 model and its AAM head, the margin ramp and the one-phase
schedule, the longer crops, a kill-and-resume run bit-identical to an uninterrupted one, and the refusal of a
model file of another model type."""

from __future__ import annotations

import signal

import pytest
import torch

from helpers import CONF_DIR, TINY_MODEL_ARGS, all_pairs_trials, make_data_dir
from toy_training import make_corpus, run_toy, toy_args, toy_main


@pytest.fixture(scope="module")
def stage3(tmp_path_factory):
    """A corpus and a finished stage-3 toy run (its final.pt keeps the averaged AAM head)."""
    root = tmp_path_factory.mktemp("lmft")
    make_corpus(root)
    final = toy_main(toy_args(root, root / "stage3", "--valid-every", "0", "--max-steps", "8"))
    return root, final


def lm_args(root, exp, final, *extra):
    return toy_args(root, exp, "--mode", "lmft", "--init", str(final), "--valid-every", "0",
                    "--lm-margin", "0.4", "--lm-margin-ramp-steps", "6", "--lm-optimizer", "sgd",
                    "--lr-init", "0.01", "--lr-max", "0.01", "--warmup-steps", "0", "--lr-min", "0.001",
                    *extra)


def test_final_model_keeps_the_averaged_aam_head(stage3):
    root, final = stage3
    obj = torch.load(final, weights_only=True)
    ckpts = [torch.load(root / f"stage3/checkpoints/step_0000000{s}.pt", weights_only=True) for s in (4, 8)]
    expected = (ckpts[0]["aam"]["weight"].double() + ckpts[1]["aam"]["weight"].double()) / 2
    assert torch.equal(obj["aam_state_dict"]["weight"], expected.float())


def test_lmft_starts_from_the_model_and_ramps_the_margin(stage3, tmp_path):
    from ssrfnet.train.schedule import MarginSchedule

    root, final = stage3
    exp = tmp_path / "lm"
    toy_main(lm_args(root, exp, final))
    log = (exp / "train.log").read_text()
    assert f"model initialised from {final}" in log
    assert f"AAM head initialised from {final} (4 speakers)" in log
    assert "mode lmft:" in log and "step 2: AAM margin 0.2333" in log and "step 12: AAM margin 0.4000" in log
    first = torch.load(exp / "checkpoints/step_00000004.pt", weights_only=True)
    assert first["mode"] == "lmft" and first["optimizer_name"] == "sgd"  # one SGD phase from step 0
    assert first["kd"] is None  # the speaker loss alone
    ramp = MarginSchedule(0.2, 0.4, 6)
    assert [round(ramp(s), 4) for s in (0, 3, 6, 9)] == [0.2, 0.3, 0.4, 0.4]
    assert "--mode lmft" in (exp / "config.conf").read_text()


def test_lmft_kill_and_resume_is_bit_identical(stage3, tmp_path):
    root, final = stage3
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    res = run_toy(lm_args(root, ref, final))
    assert res.returncode == 0, res.stderr[-2000:]
    res = run_toy(lm_args(root, crashed, final, "--kill-after-step", "6"))
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert (crashed / "checkpoints/latest").read_text().strip() == "step_00000004.pt"
    res = run_toy(lm_args(root, crashed, final))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resuming from" in (crashed / "train.log").read_text()
    a = torch.load(ref / "checkpoints/step_00000012.pt", weights_only=True)
    b = torch.load(crashed / "checkpoints/step_00000012.pt", weights_only=True)
    for part in ("model", "aam"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    for key, value in a["optimizer"]["state"].items():
        assert all(torch.equal(t, b["optimizer"]["state"][key][n]) for n, t in value.items())
    fa = torch.load(ref / "final.pt", weights_only=True)
    fb = torch.load(crashed / "final.pt", weights_only=True)
    assert all(torch.equal(fa["state_dict"][k], fb["state_dict"][k]) for k in fa["state_dict"])
    assert all(torch.equal(fa["aam_state_dict"][k], fb["aam_state_dict"][k]) for k in fa["aam_state_dict"])


def test_lmft_needs_a_whole_model_of_its_own_type(stage3, tmp_path):
    from ssrfnet.train.runconfig import TrainError

    root, final = stage3
    with pytest.raises(TrainError, match=f"--init {final}: a --model-type=ssrfnet model file, but this run "
                                         "fine-tunes --model-type=redimnet"):
        toy_main(lm_args(root, tmp_path / "a", final), {"model_type": "redimnet"})
    student = toy_main(toy_args(root, tmp_path / "distill", "--mode", "distill", "--max-steps", "2",
                                "--valid-every", "0", "--save-every", "2"))
    with pytest.raises(TrainError, match="a stage-2 student file, not a whole model"):
        toy_main(lm_args(root, tmp_path / "b", student))
    with pytest.raises(TrainError, match="--mode lmft needs --init"):
        toy_main([a for a in lm_args(root, tmp_path / "c", final) if a not in ("--init", str(final))])


def test_lmft_of_another_speaker_set_starts_a_fresh_head(stage3, tmp_path):
    root, final = stage3
    exp = tmp_path / "sp"
    toy_main(lm_args(root, exp, final, "--speed-perturb", "0.9,1.0,1.1", "--max-steps", "2"))
    log = (exp / "train.log").read_text()
    assert "12 speakers" in log and "AAM head not initialised" in log and "it has 4 speakers" in log


def test_speed_perturbation_expands_the_speakers(stage3, tmp_path):
    root, _ = stage3
    exp = tmp_path / "speed"
    toy_main(toy_args(root, exp, "--speed-perturb", "0.9,1.0,1.1", "--max-steps", "4", "--valid-every", "0"))
    spk2id = dict(line.split() for line in (exp / "spk2id").read_text().splitlines())
    assert len(spk2id) == 12 and spk2id["spk00"] == "0" and spk2id["sp0.9-spk00"] == "4"
    assert spk2id["sp1.1-spk03"] == "11"
    ck = torch.load(exp / "checkpoints/step_00000004.pt", weights_only=True)
    assert ck["num_classes"] == 12 and ck["aam"]["weight"].shape[0] == 12
    assert "--speed-perturb=0.9,1.0,1.1" in (exp / "config.conf").read_text()
    from ssrfnet.train.runconfig import TrainError

    with pytest.raises(TrainError, match="speed-perturb"):  # the factors shape the classifier
        toy_main(toy_args(root, exp, "--speed-perturb", "0.95,1.0,1.05", "--max-steps", "6",
                          "--valid-every", "0"))


# -- the real models through the command line --------------------------------------------------------------
TINY_REDIMNET = ["--redimnet-freq=16", "--redimnet-channels=4", "--redimnet-stages=1:1:1:16,2:1:1:8"]


def cli_args(tmp_path, data, exp, *extra):
    trials = all_pairs_trials(data, tmp_path / "trials")
    return ["--train-data", str(data), "--dev-data", str(data), "--dev-trials", str(trials),
            "--exp-dir", str(exp), "--batch-size=2", "--max-steps=2", "--num-workers=0", "--save-every=1",
            "--valid-every=2", "--log-every=1", "--num-avg=2", "--aug-types=clip,colored",
            "--aug-weights=1,1", "--musan-dir", str(tmp_path / "none"), "--rirs-dir", str(tmp_path / "none"),
            *extra]


def test_student_free_stage3_then_lmft_on_longer_crops(tmp_path, capsys):
    """A tiny ReDimNet through ssrfnet.bin.train: stage 3 with AAM alone (no teacher is even looked for, the
    conf's defaults include one), then stage 7 from its config.conf on 6 s crops."""
    from ssrfnet.bin.train import main

    data = make_data_dir(tmp_path, num_spk=2, per_spk=2, seconds=(3.1, 6.5))
    exp = tmp_path / "redimnet"
    conf = str(CONF_DIR / "redimnet_b2_mini.conf")
    assert main(["--mode", "ssrfnet", "--conf", conf, *TINY_REDIMNET, *cli_args(tmp_path, data, exp)]) == 0
    log = (exp / "train.log").read_text()
    assert "crop 48000 samples" in log and "student initialised" not in log and "teacher" not in log
    assert torch.load(exp / "checkpoints/step_00000002.pt", weights_only=True)["kd"] is None
    lm = tmp_path / "redimnet_lm"
    argv = ["--mode", "lmft", "--conf", str(exp / "config.conf"), "--conf", str(CONF_DIR / "lm_mini.conf"),
            "--init", str(exp / "final.pt"), *cli_args(tmp_path, data, lm, "--max-steps=3")]
    assert main(argv) == 0, capsys.readouterr().err
    log = (lm / "train.log").read_text()
    assert "mode lmft:" in log and "crop 96000 samples" in log and "AAM head initialised" in log
    assert torch.load(lm / "final.pt", weights_only=True)["config"]["model_type"] == "redimnet"


def test_lmft_of_a_model_file_of_another_type_names_it(tmp_path, capsys):
    from ssrfnet.bin.train import main
    from ssrfnet.models import build_model, save_model

    cfg = {"model_type": "redimnet", "redimnet_freq": 16, "redimnet_channels": 4,
           "redimnet_stages": "1:1:1:16,2:1:1:8"}
    other = tmp_path / "redimnet.pt"
    save_model(build_model(cfg), cfg, other)
    data = make_data_dir(tmp_path, num_spk=2, per_spk=2, seconds=(3.1, 3.6))
    argv = ["--mode", "lmft", *TINY_MODEL_ARGS, "--init", str(other),
            *cli_args(tmp_path, data, tmp_path / "lm")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"train: error: --init {other}: a --model-type=redimnet model file, but this run "
                   "fine-tunes --model-type=ssrfnet; start stage 7 from the final.pt of the same experiment"]
