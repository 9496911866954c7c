"""Tests for utils/slurm.pl and utils/queue.pl against fake sbatch/qsub on PATH."""

import os
import subprocess

import pytest

from helpers import UTILS

FAKE_SBATCH = """#!/usr/bin/env bash
# fake sbatch: runs every array task in turn, like 'sbatch --wait' would
printf '%s\\n' "$*" >> "$FAKE_SCHED_LOG"
script=${!#}
array=
for a in "$@"; do
  case $a in --array=*) array=${a#--array=} ;; esac
done
range=${array%%\\%*}
first=${range%-*}
last=${range#*-}
echo 4242
rc=0
for ((i = first; i <= last; i++)); do
  SLURM_ARRAY_TASK_ID=$i SLURM_JOB_ID=4242 bash "$script" || rc=1
done
exit $rc
"""

FAKE_QSUB = """#!/usr/bin/env bash
# fake qsub: runs every array task in turn, like 'qsub -sync y' would
printf '%s\\n' "$*" >> "$FAKE_SCHED_LOG"
script=${!#}
t=
prev=
for a in "$@"; do
  if [ "$prev" = -t ]; then t=$a; fi
  prev=$a
done
first=${t%:*}
last=${t#*:}
echo "Your job-array 77.$first-$last:1 has been submitted"
rc=0
for ((i = first; i <= last; i++)); do
  SGE_TASK_ID=$i bash "$script" || rc=1
done
exit $rc
"""


@pytest.fixture
def fake_env(tmp_path):
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("qsub", FAKE_QSUB)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bindir}:{env['PATH']}"
    env["FAKE_SCHED_LOG"] = str(tmp_path / "sched_calls.txt")
    return env


def launch(tmp_path, env, launcher, *args):
    return subprocess.run(
        [str(UTILS / launcher), *args], capture_output=True, text=True, cwd=tmp_path, env=env
    )


def sched_calls(tmp_path):
    return (tmp_path / "sched_calls.txt").read_text().splitlines()


def check_logs(tmp_path, n_jobs, threads="1"):
    for n in range(1, n_jobs + 1):
        lines = (tmp_path / f"exp/log/x.{n}.log").read_text().splitlines()
        assert lines[0] == f"# echo job {n} | tr a-z A-Z"
        assert lines[1].startswith("# Started at ")
        assert f"JOB {n}" in lines
        assert lines[-2].startswith("# Accounting: time=") and lines[-2].endswith(f"threads={threads}")
        assert lines[-1].startswith("# Ended (code 0) at ")


def test_slurm_array_job(tmp_path, fake_env):
    res = launch(
        tmp_path,
        fake_env,
        "slurm.pl",
        "--mem",
        "4G",
        "--gpu",
        "1",
        "--num-threads",
        "2",
        "--max-jobs-run",
        "2",
        "JOB=1:3",
        "exp/log/x.JOB.log",
        "echo job JOB | tr a-z A-Z",
    )
    assert res.returncode == 0, res.stderr
    check_logs(tmp_path, 3, threads="2")
    (call,) = sched_calls(tmp_path)
    for arg in ("--parsable", "--wait", "--array=1-3%2", "--mem=4G", "--gres=gpu:1", "--cpus-per-task=2"):
        assert arg in call.split()
    script = tmp_path / "exp/log/q/x.sh"
    assert script.exists() and call.split()[-1] == "exp/log/q/x.sh"
    assert "#!/usr/bin/env bash" in script.read_text()


def test_slurm_failure_reported(tmp_path, fake_env):
    res = launch(tmp_path, fake_env, "slurm.pl", "JOB=1:3", "exp/log/f.JOB.log", "[ JOB -ne 3 ]")
    assert res.returncode == 1
    assert "job 3 failed" in res.stderr and "exp/log/f.3.log" in res.stderr
    assert "job 1 failed" not in res.stderr


def test_slurm_site_config(tmp_path, fake_env):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/slurm.conf").write_text(
        "# site config\n"
        "command sbatch --export=ALL -p cpu\n"
        "option mem=* --mem-per-cpu=$0\n"
        "option gpu=* -p gpu --gres=gpu:$0\n"
        "option gpu=0\n"
        "default gpu=0\n"
        "option time=* --time=$0\n"
    )
    res = launch(tmp_path, fake_env, "slurm.pl", "--mem", "2G", "--time", "1:00:00", "exp/log/x.log", "true")
    assert res.returncode == 0, res.stderr
    call = sched_calls(tmp_path)[0].split()
    assert "-p" in call and "cpu" in call
    assert "--mem-per-cpu=2G" in call and "--time=1:00:00" in call
    assert "--array=1-1" in call
    assert "# Ended (code 0)" in (tmp_path / "exp/log/x.log").read_text()
    res = launch(tmp_path, fake_env, "slurm.pl", "--num-threads", "2", "exp/log/y.log", "true")
    assert res.returncode == 1 and "num_threads" in res.stderr


def test_slurm_refuses_parallel_without_job(tmp_path, fake_env):
    res = launch(tmp_path, fake_env, "slurm.pl", "JOB=1:2", "exp/log/x.log", "true")
    assert res.returncode == 1 and "JOB" in res.stderr
    assert not (tmp_path / "sched_calls.txt").exists()


def test_slurm_submit_failure(tmp_path, fake_env):
    bad = tmp_path / "fakebin" / "sbatch"
    bad.write_text("#!/bin/sh\necho 'sbatch: error: invalid partition' >&2\nexit 1\n")
    res = launch(tmp_path, fake_env, "slurm.pl", "exp/log/x.log", "true")
    assert res.returncode == 1
    assert "invalid partition" in res.stderr


def test_queue_array_job(tmp_path, fake_env):
    res = launch(
        tmp_path,
        fake_env,
        "queue.pl",
        "--mem",
        "4G",
        "--max-jobs-run",
        "5",
        "JOB=1:2",
        "exp/log/x.JOB.log",
        "echo job JOB | tr a-z A-Z",
    )
    assert res.returncode == 0, res.stderr
    check_logs(tmp_path, 2)
    call = sched_calls(tmp_path)[0]
    assert "-sync y" in call and "-t 1:2" in call and "-tc 5" in call
    assert "mem_free=4G,ram_free=4G" in call


def test_queue_failure_and_conf(tmp_path, fake_env):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/queue.conf").write_text("command qsub -V -cwd -q all.q\noption mem=* -l h_vmem=$0\n")
    res = launch(tmp_path, fake_env, "queue.pl", "--mem", "1G", "JOB=2:3", "exp/log/q.JOB.log", "exit JOB")
    assert res.returncode == 1
    assert "job 2 failed (code 2)" in res.stderr and "job 3 failed (code 3)" in res.stderr
    call = sched_calls(tmp_path)[0]
    assert "-q all.q" in call and "-l h_vmem=1G" in call and "-t 2:3" in call


def test_launchers_usage(tmp_path, fake_env):
    for launcher in ("slurm.pl", "queue.pl"):
        res = launch(tmp_path, fake_env, launcher)
        assert res.returncode == 1 and "e.g.:" in res.stderr
