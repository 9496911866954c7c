"""Issue 13, stages, confs, trials and CLIs: every user-caused failure is one named line on the console, and
a failing stage script adds no second, vaguer message."""

import os
import subprocess

import kaldiio
import numpy as np
import pytest

from ssrfnet.bin import score as score_cli

from helpers import RECIPE, make_data_dir, tree_hashes


def recipe(*argv, env=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", **(env or {}))
    return subprocess.run(list(argv), capture_output=True, text=True, cwd=RECIPE, env=env, timeout=300)


@pytest.mark.parametrize("argv, message", [
    (["--stage", "4", "--stop-stage", "2"], "--stop-stage 2 is before --stage 4: no stage would run"),
    (["--stage", "two"], "--stage and --stop-stage must be stage numbers, got 'two' and '6'"),
])
def test_run_sh_refuses_a_stage_range_that_runs_nothing(argv, message):
    res = recipe("./run.sh", *argv)
    assert res.returncode == 1 and res.stderr.strip() == f"./run.sh: {message}"


@pytest.fixture
def emb(tmp_path):
    rng = np.random.default_rng(0)
    keys = [f"s{s}-u{u}" for s in range(3) for u in range(3)]
    vec = {k: rng.normal(size=4).astype(np.float32) for k in keys}
    kaldiio.save_ark(str(tmp_path / "xvector.ark"), vec, scp=str(tmp_path / "xvector.scp"))
    good = tmp_path / "good.kaldi"
    good.write_text("".join(f"{a} {b} {'target' if a[:2] == b[:2] else 'nontarget'}\n"
                            for i, a in enumerate(keys) for b in keys[i + 1:]))
    return tmp_path, good


@pytest.mark.parametrize("trials, message", [
    ("s0-u0 s0-u1 target\ns0-u0 s1-u1 maybe\n",
     "bad.kaldi:2: label must be 'target' or 'nontarget', got 'maybe'"),
    ("s0-u0 s0-u1\n", "bad.kaldi:1:"),
    ("", "bad.kaldi: no trials"),
    ("s0-u0 s9-u9 target\ns0-u0 s1-u0 nontarget\n", "bad.kaldi:1: no embedding for utterance 's9-u9'"),
    ("s0-u0 s1-u0 nontarget\ns0-u1 s2-u0 nontarget\n", "no target trials"),
])
def test_bad_trial_lists_are_one_line_naming_file_and_line(emb, trials, message, capsys):
    tmp, good = emb
    exp = tmp / "exp"
    argv = ["--exp-dir", str(exp), "--emb-dir", str(tmp), "--eval-protocol", "utt", "--det", "false",
            "--trials"]
    assert score_cli.main(argv + [str(good)]) == 0
    before = tree_hashes(exp)
    (tmp / "bad.kaldi").write_text(trials)
    capsys.readouterr()
    assert score_cli.main(argv + [str(good), str(tmp / "bad.kaldi")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("score: error:") and message in err[0], err
    assert tree_hashes(exp) == before


@pytest.mark.parametrize("conf, message", [
    ("--no-such-option=1\n", "bad.conf:1: unknown option --no-such-option"),
    ("--eval-protocol=crops\n--eval-num-crops=ten\n", "bad.conf:2:"),
    ("eval-protocol utt\n", "bad.conf:1:"),
])
def test_bad_conf_files_name_the_file_and_line(emb, conf, message, capsys):
    tmp, good = emb
    (tmp / "bad.conf").write_text(conf)
    rc = score_cli.main(["--conf", str(tmp / "bad.conf"), "--exp-dir", str(tmp / "exp"), "--emb-dir",
                         str(tmp), "--trials", str(good)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc in (1, 2) and message in err[-1], err
    assert not (tmp / "exp").exists()


def test_score_step_failure_is_named_once_and_keeps_results(emb):
    tmp, good = emb
    exp = tmp / "exp"
    res = recipe("steps/score.sh", "--protocol", "utt", str(exp), str(tmp), str(good))
    assert res.returncode == 0, res.stderr
    before = tree_hashes(exp / "scores", exp / "results.md", exp / "results.json", exp / "README.md")
    (tmp / "bad.kaldi").write_text("s0-u0 s0-u1 target\ns0-u0 nosuch nontarget\n")
    res = recipe("steps/score.sh", "--protocol", "utt", str(exp), str(tmp), str(good), str(tmp / "bad.kaldi"))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert lines[-2:] == [f"run.pl: job failed (code 1), log {exp}/log/score.log",
                          f"  score: error: {tmp}/bad.kaldi:2: no embedding for utterance 'nosuch' in {tmp} "
                          "(1 of 2 trials name utterances without embeddings)"], lines
    assert tree_hashes(exp / "scores", exp / "results.md", exp / "results.json", exp / "README.md") == before


def test_score_step_missing_inputs_are_named(emb):
    tmp, good = emb
    res = recipe("steps/score.sh", str(tmp / "exp"), str(tmp / "nowhere"), str(good))
    assert res.returncode == 1 and "no " + str(tmp / "nowhere") + "/xvector.scp" in res.stderr
    res = recipe("steps/score.sh", "--asnorm", "true", str(tmp / "exp"), str(tmp), str(good))
    assert res.returncode == 1 and "AS-norm needs cohort embeddings" in res.stderr


def test_teacher_not_found_says_that_path_sh_set_hf_hub_offline(monkeypatch):
    pytest.importorskip("transformers")
    from ssrfnet.models.teacher import TeacherNotFoundError, load_wavlm

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TeacherNotFoundError) as err:
        load_wavlm("nobody/no-such-wavlm")
    assert "HF_HUB_OFFLINE=1 is set (path.sh sets it" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_missing_teacher_directory_is_one_named_line_on_the_console(tmp_path):
    data = make_data_dir(tmp_path, num_spk=2, per_spk=2)
    exp = tmp_path / "exp"
    res = recipe("steps/train.sh", "--mode", "distill", "--conf", "conf/ssrfnet_mini.conf", "--train-opts",
                 f"--teacher={tmp_path}/no_teacher --teacher-random-init=false", str(data), str(data),
                 str(exp))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert lines[-2] == f"run.pl: job failed (code 1), log {exp}/log/train.log"
    assert lines[-1].startswith(f"  train: error: teacher '{tmp_path}/no_teacher' not found")


def test_an_error_from_a_dataloader_worker_is_one_line_without_the_traceback():
    from torch._utils import ExceptionWrapper

    from ssrfnet.audio import AudioError
    from ssrfnet.cli import one_line

    try:
        raise AudioError("data/train/wav.scp: u1: sample rate is 8000 Hz, expected 16000 Hz")
    except AudioError:
        wrapped = ExceptionWrapper(where="in DataLoader worker process 0")
    with pytest.raises(AudioError) as err:
        wrapped.reraise()
    assert "Traceback" in str(err.value)
    assert one_line(err.value) == ("data/train/wav.scp: u1: sample rate is 8000 Hz, expected 16000 Hz "
                                   "(in a DataLoader worker)")
