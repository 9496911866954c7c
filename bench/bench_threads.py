"""Mini stage 3 under a busy machine: training samples/s with and without one competing busy process, for
several thread policies (OpenMP threads, OpenMP wait policy, DataLoader workers), in one run.

    python bench/bench_threads.py [--recipe egs/voxceleb] [--steps 60] [--runs 3]

Each measurement trains the mini SSRFNet (conf/ssrfnet_mini.conf, its random teacher, augmentation, 3 s
crops) for --steps steps from scratch on the recipe's data/vox2_train (stage 0-1 of the default mini run must
have run there; --data to point elsewhere) and reads samples/s from train.log, ignoring the first logging
interval (start-up). The competitor is `sh -c 'while :; do :; done'`, one busy core, as the issue defines it.
Runs of the policies alternate, so drifting load hits all alike; the 1-min load average is recorded. Prints,
per policy, the median uncontended and contended samples/s and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name -> (environment overrides, DataLoader workers, the trainer's --num-threads: 0 = torch's default)
ACTIVE, PASSIVE = {"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": "PASSIVE"}
TWO, ONE = {"OMP_NUM_THREADS": "2"}, {"OMP_NUM_THREADS": "1"}
POLICIES = {
    "2 threads, wait policy unset, 1 worker (old default)": (TWO, 1, "0"),
    "2 threads, wait active, 1 worker": ({**TWO, **ACTIVE}, 1, "0"),
    "2 threads, wait passive, 1 worker": ({**TWO, **PASSIVE}, 1, "0"),
    "2 threads, wait passive, 0 workers": ({**TWO, **PASSIVE}, 0, "0"),
    "1 thread, wait passive, 1 worker": ({**ONE, **PASSIVE}, 1, "0"),
    "2 threads, spin 10k then sleep, 1 worker": ({**TWO, "GOMP_SPINCOUNT": "10000"}, 1, "0"),
    "2 threads, spin 100k then sleep, 1 worker": ({**TWO, "GOMP_SPINCOUNT": "100000"}, 1, "0"),
    # steps/train.sh's default: --num-threads auto under OMP_NUM_THREADS=2 (ssrfnet.cli.auto_threads)
    "auto threads (at most 2), 1 worker (new default)": (TWO, 1, "auto"),
}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
RATE = re.compile(r"samples/s ([0-9.]+)")


def train_once(data: Path, dev: Path, work: Path, env: dict, workers: int, threads: str, steps: int,
               log_every: int) -> float:
    exp = work / "exp"
    shutil.rmtree(exp, ignore_errors=True)
    cmd = [sys.executable, "-m", "ssrfnet.bin.train", "--mode", "ssrfnet",
           "--conf", str(REPO / "egs/voxceleb/conf/ssrfnet_mini.conf"), "--train-data", str(data),
           "--dev-data", str(dev), "--musan-dir", str(data.parent), "--rirs-dir", str(data.parent / "rirs"),
           "--exp-dir", str(exp), "--teacher", str(work / "teacher"), "--init-student=false",
           f"--max-steps={steps}", f"--save-every={steps}", "--valid-every=0", f"--log-every={log_every}",
           f"--num-workers={workers}", "--num-avg=1", "--device", "cpu",
           "--num-threads", threads]
    full_env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    full_env.update(env, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"training failed:\n{proc.stderr[-3000:]}")
    rates = [float(m.group(1)) for m in RATE.finditer((exp / "train.log").read_text())]
    if len(rates) < 2:
        raise SystemExit(f"too few log lines in {exp / 'train.log'}: use more --steps")
    return statistics.median(rates[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default=str(REPO / "egs/voxceleb"))
    parser.add_argument("--data", default=None, help="training data dir (default <recipe>/data/vox2_train)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="policy names to run (default all)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed bench still stops its busy process
    data = Path(args.data) if args.data else Path(args.recipe) / "data" / "vox2_train"
    if not (data / "wav.scp").is_file():
        raise SystemExit(f"{data}: no training data dir (run stages 0-1 of the mini recipe first)")
    dev = data.parent / "vox2_heldout"
    policies = {k: v for k, v in POLICIES.items() if not args.only or k in args.only}
    figures = {name: {"uncontended": [], "contended": [], "load": []} for name in policies}
    with tempfile.TemporaryDirectory(prefix="bench_threads.") as tmp:
        work = Path(tmp)
        for run in range(args.runs):
            for contended in (False, True):
                busy = subprocess.Popen(["sh", "-c", "while :; do :; done"]) if contended else None
                try:
                    for name, (env, workers, threads) in policies.items():
                        rate = train_once(data, dev, work, env, workers, threads, args.steps, args.log_every)
                        figures[name]["contended" if contended else "uncontended"].append(rate)
                        figures[name]["load"].append(os.getloadavg()[0])
                        print(f"run {run + 1} {'contended  ' if contended else 'uncontended'} {name}: "
                              f"{rate:.2f} samples/s", flush=True)
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()
    print(f"\nmedians over {args.runs} runs ({args.steps} steps of batch 8, first log interval dropped):")
    for name, fig in figures.items():
        free, busy = statistics.median(fig["uncontended"]), statistics.median(fig["contended"])
        fig.update(median_uncontended=free, median_contended=busy, kept=busy / free)
        print(f"  {name:48s} uncontended {free:6.2f}  contended {busy:6.2f} samples/s  "
              f"kept {100 * busy / free:5.1f}%  (1-min load {min(fig['load']):.1f}-{max(fig['load']):.1f})")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
