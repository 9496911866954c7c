"""The command-line layer: one error style and exit status for every entry point, conf keys of any group."""

from __future__ import annotations

import argparse
import os
import subprocess

import pytest
import torch

from ssrfnet import cli
from ssrfnet.bin import average_checkpoints, compute_metrics, evaluate, model_info, train, verify


def one_error_line(capsys, tool: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"{tool}: error: "), err
    return err[0]


def test_unknown_conf_key_names_file_and_line(tmp_path, capsys):
    conf = tmp_path / "x.conf"
    conf.write_text("# comment\n--svmixer-layers=5\n--no-such-option=1\n")
    assert model_info.main(["--conf", str(conf), "--no-macs"]) == 1
    assert f"{conf}:3: unknown option --no-such-option" in one_error_line(capsys, "model_info")


def test_keys_of_other_groups_are_accepted(tmp_path, capsys):
    conf = tmp_path / "x.conf"
    conf.write_text("--svmixer-layers=4\n--svmixer-hidden=128\n--redimnet-freq=16\n--redimnet-channels=8\n"
                    "--max-steps=3\n--eval-num-crops=4\n--teacher=nowhere\n")
    assert model_info.main(["--conf", str(conf), "--no-macs", "--json"]) == 0
    assert '"svmixer_layers": 4' in capsys.readouterr().out


def test_bad_option_value_is_one_line(tmp_path, capsys):
    conf = tmp_path / "x.conf"
    conf.write_text("--svmixer-layers=many\n")
    assert model_info.main(["--conf", str(conf)]) == 1
    assert "bad value 'many' for --svmixer-layers" in one_error_line(capsys, "model_info")


def test_usage_errors_keep_argparse_status_2(capsys):
    with pytest.raises(SystemExit) as err:
        compute_metrics.main([])
    assert err.value.code == 2


@pytest.mark.parametrize("content", [b"", b"\x80\x02 not a zip", b"PK\x03\x04truncated"])
def test_unreadable_model_file_names_the_path(tmp_path, capsys, content):
    model = tmp_path / "final.pt"
    model.write_bytes(content)
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    assert verify.main(["--model", str(model), str(wav), str(wav)]) == 1
    line = one_error_line(capsys, "verify")
    assert str(model) in line and "not a readable PyTorch checkpoint" in line


def test_missing_model_file(tmp_path, capsys):
    code = evaluate.main(["--model", str(tmp_path / "none.pt"), "--data", str(tmp_path), "--trials", "t",
                          "--out", str(tmp_path / "out")])
    assert code == 1
    assert "no such model file" in one_error_line(capsys, "evaluate")


def test_unreadable_checkpoint_when_averaging(tmp_path, capsys):
    bad = tmp_path / "step_00000002.pt"
    bad.write_bytes(b"garbage")
    assert average_checkpoints.main([str(tmp_path / "out.pt"), "--checkpoints", str(bad)]) == 1
    assert str(bad) in one_error_line(capsys, "average_checkpoints")
    assert not (tmp_path / "out.pt").exists()


def test_training_errors_are_one_line(tmp_path, capsys):
    code = train.main(["--mode", "ssrfnet", "--train-data", str(tmp_path / "nowhere"),
                       "--exp-dir", str(tmp_path / "exp")])
    assert code == 1
    assert "nowhere" in one_error_line(capsys, "train")


def test_every_entry_point_goes_through_the_cli_layer():
    import importlib
    import pkgutil

    import ssrfnet.bin

    for info in pkgutil.iter_modules(ssrfnet.bin.__path__):
        module = importlib.import_module(f"ssrfnet.bin.{info.name}")
        assert module.main.__doc__ == f"Entry point of python -m ssrfnet.bin.{info.name}.", info.name
        assert module.build_parser().prog == f"python -m ssrfnet.bin.{info.name}"


def test_all_option_names_cover_every_group():
    names = cli.all_option_names()
    assert {"svmixer-layers", "max-steps", "teacher", "eval-num-crops", "asnorm-top-n"} <= names


def test_threads_option_takes_a_count_or_auto():
    assert cli.threads_value("auto") == "auto" and cli.threads_value("3") == 3
    for bad in ("-1", "two", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="thread count >= 0 or auto"):
            cli.threads_value(bad)


def test_auto_threads_leave_the_busy_cores_alone():
    cores = len(os.sched_getaffinity(0))
    assert cli.auto_threads(cores, 0.0) == cores
    assert cli.auto_threads(1, 0.0) == 1
    assert cli.auto_threads(cores, float(cores)) == 1  # never 0
    if cores >= 2:
        assert cli.auto_threads(cores, 1.0) == cores - 1
        assert cli.auto_threads(cores, 0.3) == cores  # noise from short-lived processes is not a busy core


def test_the_thread_cap_reads_omp_num_threads(monkeypatch):
    for value, cap in (("3", 3), ("4,2", 4), (" 2 ", 2), ("0", os.cpu_count()), ("many", os.cpu_count())):
        monkeypatch.setenv("OMP_NUM_THREADS", value)
        assert cli.omp_thread_cap() == cap, value
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cli.omp_thread_cap() == os.cpu_count()


def test_a_busy_process_is_seen(capsys, monkeypatch):
    busy = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    try:
        assert cli.busy_cores_of_others(0.5) >= 0.6
    finally:
        busy.kill()
        busy.wait()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(cli, "busy_cores_of_others", lambda: 1.0)
    before = torch.get_num_threads()
    args = argparse.Namespace(num_threads="auto")
    try:
        cli.apply_runtime(args)
        expected = cli.auto_threads(2, 1.0)
        assert args.num_threads == torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(before)
    assert f"threads: {expected} (auto: 1.0 core(s) busy with other processes, at most 2)" in \
        capsys.readouterr().err
