#!/usr/bin/env python3
"""CPU speed of the SSRFNet model (teacher excluded): one training step and one inference batch.

Compares the optimised kernels (fast_ops=true) with the plain official-style eager ops (fast_ops=false)
on the same weights in the same run. Training step = forward_train, AAM-softmax (top-K) + KD loss on the
student's last hidden state through 3 Linear-GELU-Linear heads against random targets, backward.
The official code took 5.30 s per training step and 1.48 s per inference batch (2 threads, 4 x 3 s).

  .venv/bin/python bench/bench_model_speed.py [--runs 5] [--warmup 2] [--conf egs/voxceleb/conf/ssrfnet.conf]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssrfnet.config import read_conf  # noqa: E402
from ssrfnet.cpu_memory import keep_freed_memory  # noqa: E402
from ssrfnet.losses import AAMSoftmax, KDLoss  # noqa: E402
from ssrfnet.models import build_model, use_fast_kernels, use_plain_ops  # noqa: E402
from ssrfnet.models.options import add_model_options, model_config_from_args  # noqa: E402

OFFICIAL = {"train": 5.30, "infer": 1.48}


def make_losses(embed_dim: int, hidden: int, num_classes: int = 5994):
    aam = AAMSoftmax(embed_dim, num_classes, margin=0.2, scale=30.0, topk=5, topk_margin=0.1)
    kd = KDLoss(hidden, 1024, num_heads=3)
    return (lambda emb, y: aam(emb, y)[0]), kd, [aam, kd], "ssrfnet.losses"


def timed(fn) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, 1-min load average after it) of one call."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c, os.getloadavg()[0]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["fast", "baseline"], default=None)
    parser.add_argument("--no-malloc-tuning", action="store_true",
                        help="keep glibc's default mmap/munmap of large buffers (ssrfnet.cpu_memory)")
    parser.add_argument("--conf", default=None, help="Kaldi option file with model keys (default: full size)")
    add_model_options(parser)
    args = parser.parse_args()
    if args.conf:
        keys = {a.dest for a in parser._actions}
        argv = [f"--{k}={v}" for k, v, _ in read_conf(args.conf) if k.replace("-", "_") in keys]
        args = parser.parse_args(argv + sys.argv[1:])
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    malloc_tuned = False if args.no_malloc_tuning else keep_freed_memory()
    torch.manual_seed(0)
    cfg = model_config_from_args(args)
    model = build_model(cfg)
    hidden = model.student.hidden_size
    aam, kd, extra, loss_src = make_losses(model.embed_dim, hidden)
    wav = 0.05 * torch.randn(args.batch, model.crop_samples)
    labels = torch.randint(0, 5994, (args.batch,))
    targets = torch.randn(args.batch, 3, model.student.seq_len, 1024)
    params = list(model.parameters()) + [p for m in extra for p in m.parameters()]

    def train_step():
        model.train()
        for p in params:
            p.grad = None
        emb, states = model.forward_train(wav)
        loss = aam(emb, labels) + kd(states[:, -1], targets)
        loss.backward()

    def infer():
        model.eval()
        with torch.no_grad():
            model(wav)

    print(f"torch {torch.__version__}, threads {args.threads}, "
          f"batch {args.batch} x {model.crop_samples} samples, losses from {loss_src}, "
          f"{sum(p.numel() for p in model.parameters()):,} model parameters, "
          f"freed memory kept (ssrfnet.cpu_memory): {malloc_tuned}")
    modes = [args.only] if args.only else ["baseline", "fast"]
    # baseline and fast runs alternate, so that drifting load on a shared machine hits both alike
    times = {(mode, what): [] for mode in modes for what in ("train", "infer")}
    load0 = os.getloadavg()
    for what, fn in (("train", train_step), ("infer", infer)):
        for i in range(args.warmup + args.runs):
            for mode in modes:
                model = use_fast_kernels(model) if mode == "fast" else use_plain_ops(model)
                t = timed(fn)
                if i >= args.warmup:
                    times[(mode, what)].append(t)
    load1 = os.getloadavg()
    for what in ("train", "infer"):
        for mode in modes:
            ts = times[(mode, what)]
            print(f"{mode:8s} {what}: median wall {median([t[0] for t in ts]):.3f} s, "
                  f"median CPU {median([t[1] for t in ts]):.3f} s; wall runs {[round(t[0], 3) for t in ts]}, "
                  f"1-min load {[round(t[2], 2) for t in ts]}")
        if len(modes) == 2:
            pairs = zip(times[("baseline", what)], times[("fast", what)])
            ratios = [(b[0] / f[0], b[1] / f[1]) for b, f in pairs]
            wall_r, cpu_r = median([r[0] for r in ratios]), median([r[1] for r in ratios])
            print(f"{what}: speed-up fast vs baseline, median of paired ratios: wall x{wall_r:.2f}, "
                  f"CPU x{cpu_r:.2f}")
    print(f"load average (1, 5, 15 min): before {tuple(round(v, 2) for v in load0)}, "
          f"after {tuple(round(v, 2) for v in load1)} on {os.cpu_count()} CPUs")
    for mode in modes:
        tr = median([t[0] for t in times[(mode, "train")]])
        inf = median([t[0] for t in times[(mode, "infer")]])
        print(f"{mode:8s} vs official (5.30 s / 1.48 s, idle machine): train x{OFFICIAL['train'] / tr:.2f}, "
              f"inference x{OFFICIAL['infer'] / inf:.2f}")

if __name__ == "__main__":
    main()
