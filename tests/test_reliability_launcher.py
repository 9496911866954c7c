"""Issue 13, job launchers: a failed job's named error on the console, logs that must be writable, and no
orphaned jobs when the launcher is SIGKILLed (utils/run.pl, utils/queue.pl through utils/slurm.pl)."""

import os
import random
import signal
import subprocess
import time

import pytest

from helpers import UTILS

RUN_PL = str(UTILS / "run.pl")


def run(tmp_path, *args):
    return subprocess.run([RUN_PL, *args], capture_output=True, text=True, cwd=tmp_path)


def test_failed_job_shows_its_log_and_the_named_error_not_a_traceback_frame(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text(
        "import sys\n"
        "print('working on JOB')\n"
        "if sys.argv[1] == '2':\n"
        "    print('extract_embeddings: error: data/x/wav.scp: u7: sample rate is 8000 Hz',\n"
        "          file=sys.stderr)\n"
        "    sys.exit(1)\n")
    traceback = tmp_path / "bug.py"
    traceback.write_text("def f():\n    raise KeyError('config')\nf()\n")
    res = run(tmp_path, "JOB=1:3", "log/x.JOB.log", f"python3 {script} JOB")
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert "run.pl: job 2 failed (code 1), log log/x.2.log" in lines
    assert "  extract_embeddings: error: data/x/wav.scp: u7: sample rate is 8000 Hz" in lines
    assert "job 1 failed" not in res.stderr
    # without an "error:" line: the last line of output (a traceback's exception line, not its first frame)
    res = run(tmp_path, "log/bug.log", f"python3 {traceback}")
    assert res.stderr.splitlines()[:2] == ["run.pl: job failed (code 1), log log/bug.log",
                                           "  KeyError: 'config'"]


def test_unwritable_log_is_an_error_before_anything_runs(tmp_path):
    # a log that cannot be written (here: a directory in its place; a read-only exp dir alike)
    log = tmp_path / "exp" / "log" / "train.log"
    log.mkdir(parents=True)
    res = run(tmp_path, "exp/log/train.log", "touch ran")
    assert res.returncode == 1
    assert res.stderr.startswith("run.pl: cannot write the log exp/log/train.log")
    assert "Ended (code 0)" not in res.stderr and not (tmp_path / "ran").exists()


def job_processes(marker: str) -> list[int]:
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    pids.append(int(pid))
        except OSError:
            continue
    return pids


@pytest.mark.parametrize("template", ["sleep {t} && touch {out}.JOB",
                                      "setsid bash -c 'sleep {t} && touch {out}.JOB' & wait"],
                         ids=["process-group", "own-session"])
def test_sigkill_of_the_launcher_takes_its_jobs_with_it(tmp_path, template):
    seconds = f"{2.5 + random.random() / 1000:.6f}"  # a unique command line to look for
    job = template.format(t=seconds, out=tmp_path / "out")
    launcher = subprocess.Popen([RUN_PL, "JOB=1:2", "log/k.JOB.log", job], cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while len(job_processes(seconds)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert len(job_processes(seconds)) >= 2, "the jobs did not start"
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait()
    deadline = time.time() + 5
    while job_processes(seconds) and time.time() < deadline:
        time.sleep(0.05)
    assert job_processes(seconds) == []  # no job process survives
    time.sleep(3)  # past the moment the jobs would have finished
    assert not list(tmp_path.glob("out.*"))  # and nothing was moved into place afterwards
    for n in (1, 2):
        assert "# Ended" not in (tmp_path / f"log/k.{n}.log").read_text()


FAKE_SBATCH = """#!/usr/bin/env bash
script=${!#}
echo 4242
for a in "$@"; do case $a in --array=*) r=${a#--array=}; r=${r%%\\%*} ;; esac; done
rc=0
for ((i = ${r%-*}; i <= ${r#*-}; i++)); do SLURM_ARRAY_TASK_ID=$i bash "$script" || rc=1; done
exit $rc
"""


@pytest.fixture
def slurm_env(tmp_path):
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    (bindir / "sbatch").write_text(FAKE_SBATCH)
    (bindir / "scancel").write_text(f"#!/usr/bin/env bash\necho \"$*\" >> {tmp_path}/cancelled\n")
    for name in ("sbatch", "scancel"):
        (bindir / name).chmod(0o755)
    return dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")


def test_queue_failure_shows_the_named_error(tmp_path, slurm_env):
    res = subprocess.run([str(UTILS / "slurm.pl"), "JOB=1:2", "exp/log/s.JOB.log",
                          "[ JOB = 1 ] || { echo 'score: error: trials.kaldi:3: bad label' >&2; exit 1; }"],
                         capture_output=True, text=True, cwd=tmp_path, env=slurm_env)
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert "slurm.pl: job 2 failed (code 1), log exp/log/s.2.log" in lines
    assert "  score: error: trials.kaldi:3: bad label" in lines


def test_sigkill_of_queue_pl_cancels_the_array_job(tmp_path, slurm_env):
    launcher = subprocess.Popen([str(UTILS / "slurm.pl"), "JOB=1:1", "exp/log/q.JOB.log",
                                 f"sleep 30 && touch {tmp_path}/late"], cwd=tmp_path, env=slurm_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while not (tmp_path / "exp/log/q.1.log").is_file() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait()
    deadline = time.time() + 5
    while not (tmp_path / "cancelled").is_file() and time.time() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "cancelled").read_text().split() == ["4242"]
    deadline = time.time() + 5
    while job_processes(f"{tmp_path}/late") and time.time() < deadline:
        time.sleep(0.05)
    assert job_processes(f"{tmp_path}/late") == []
