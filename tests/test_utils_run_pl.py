"""Tests for utils/run.pl (local job launcher)."""

import os
import subprocess
import time

from helpers import REPO

RUN_PL = str(REPO / "utils" / "run.pl")


def run(tmp_path, *args, env=None):
    return subprocess.run([RUN_PL, *args], capture_output=True, text=True, cwd=tmp_path, env=env)


def test_parallel_jobs_and_job_substitution(tmp_path):
    t0 = time.time()
    res = run(
        tmp_path,
        "--max-jobs-run",
        "3",
        "JOB=1:3",
        "exp/log/x.JOB.log",
        "sleep 1; echo job JOB; echo out_JOB > out.JOB.txt",
    )
    elapsed = time.time() - t0
    assert res.returncode == 0, res.stderr
    assert elapsed < 2.8, "jobs did not run in parallel"
    for n in (1, 2, 3):
        assert (tmp_path / f"out.{n}.txt").read_text() == f"out_{n}\n"
        lines = (tmp_path / f"exp/log/x.{n}.log").read_text().splitlines()
        assert lines[0] == f"# sleep 1; echo job {n}; echo out_{n} > out.{n}.txt"
        assert lines[1].startswith("# Started at ")
        assert f"job {n}" in lines
        assert lines[-2].startswith("# Accounting: time=") and lines[-2].endswith(" threads=1")
        assert lines[-1].startswith("# Ended (code 0) at ")


def test_max_jobs_run_limits_parallelism(tmp_path):
    res = run(
        tmp_path,
        "--max-jobs-run",
        "1",
        "JOB=1:3",
        "log/t.JOB.log",
        "date +%s.%N > start.JOB; sleep 0.3; date +%s.%N > end.JOB",
    )
    assert res.returncode == 0, res.stderr
    spans = sorted(
        (float((tmp_path / f"start.{n}").read_text()), float((tmp_path / f"end.{n}").read_text()))
        for n in (1, 2, 3)
    )
    for (_, e1), (s2, _) in zip(spans, spans[1:]):
        assert s2 >= e1


def test_pipes_and_args(tmp_path):
    res = run(tmp_path, "--num-threads", "4", "log/p.log", "echo", "a b  c", "|", "wc", "-w")
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "log/p.log").read_text()
    assert "# echo 'a b  c' | wc -w" in text
    assert "\n3\n" in text
    assert "threads=4" in text
    res = run(tmp_path, "log/q.log", "true && echo yes")
    assert res.returncode == 0
    assert "\nyes\n" in (tmp_path / "log/q.log").read_text()


def test_failure_propagation(tmp_path):
    res = run(tmp_path, "JOB=1:3", "log/f.JOB.log", "echo running JOB; [ JOB -ne 2 ]")
    assert res.returncode == 1
    assert "job 2 failed" in res.stderr
    assert "log/f.2.log" in res.stderr
    assert "job 1 failed" not in res.stderr and "job 3 failed" not in res.stderr
    assert (tmp_path / "log/f.2.log").read_text().splitlines()[-1].startswith("# Ended (code 1) at ")
    # all jobs still ran
    assert "# Ended (code 0)" in (tmp_path / "log/f.3.log").read_text()


def test_exit_code_recorded(tmp_path):
    res = run(tmp_path, "log/e.log", "exit 3")
    assert res.returncode == 1
    assert "# Ended (code 3)" in (tmp_path / "log/e.log").read_text()


def test_refuses_parallel_without_job_in_log(tmp_path):
    res = run(tmp_path, "JOB=1:2", "log/single.log", "true")
    assert res.returncode == 1
    assert "JOB" in res.stderr
    assert not (tmp_path / "log").exists()


def test_single_index_range_and_other_var(tmp_path):
    res = run(tmp_path, "N=4:5", "log/n.N.log", "echo N")
    assert res.returncode == 0
    assert "\n5\n" in (tmp_path / "log/n.5.log").read_text()
    assert not (tmp_path / "log/n.1.log").exists()


def test_pick_failed_reruns_only_bad_jobs(tmp_path):
    marker = tmp_path / "ok"
    res = run(tmp_path, "JOB=1:2", "log/r.JOB.log", f"echo ran >> ran.JOB; [ JOB = 1 ] || [ -e {marker} ]")
    assert res.returncode == 1
    marker.write_text("")
    res = run(
        tmp_path,
        "--pick",
        "failed",
        "JOB=1:2",
        "log/r.JOB.log",
        f"echo ran >> ran.JOB; [ JOB = 1 ] || [ -e {marker} ]",
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "ran.1").read_text() == "ran\n"
    assert (tmp_path / "ran.2").read_text() == "ran\nran\n"


def test_gpu_option(tmp_path):
    # no GPUs: accepted and ignored
    env = dict(os.environ, PATH="/usr/bin:/bin")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    res = run(
        tmp_path,
        "--gpu",
        "1",
        "--mem",
        "4G",
        "JOB=1:2",
        "log/g.JOB.log",
        "echo cvd=${CUDA_VISIBLE_DEVICES:-none}",
        env=env,
    )
    assert res.returncode == 0, res.stderr
    assert "cvd=none" in (tmp_path / "log/g.1.log").read_text()
    # two fake GPUs: each job gets one
    fake = tmp_path / "bin"
    fake.mkdir()
    smi = fake / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: Fake (UUID: a)'\necho 'GPU 1: Fake (UUID: b)'\n")
    smi.chmod(0o755)
    env["PATH"] = f"{fake}:/usr/bin:/bin"
    res = run(
        tmp_path,
        "--gpu",
        "1",
        "JOB=1:2",
        "log/h.JOB.log",
        "echo cvd=$CUDA_VISIBLE_DEVICES; sleep 0.3",
        env=env,
    )
    assert res.returncode == 0, res.stderr
    got = sorted(
        line
        for n in (1, 2)
        for line in (tmp_path / f"log/h.{n}.log").read_text().splitlines()
        if line.startswith("cvd=")
    )
    assert got == ["cvd=0", "cvd=1"]


def test_usage(tmp_path):
    res = run(tmp_path)
    assert res.returncode == 1
    assert "e.g.:" in res.stderr
