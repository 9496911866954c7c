#!/usr/bin/env python3
"""CPU inference speed of the full model: plain eager ops, fast kernels, onnxruntime fp32 and int8, one run.

Each timed round runs every backend once on the same (batch x 3 s) input, in turn, so that drifting load on a
shared machine hits all alike; medians over the rounds, and ratios against the plain eager ops (the official
code's speed) as medians of the per-round ratios. The per-utterance cost of the 10 x 3 s crop protocol
(stage 4's EmbeddingExtractor on one `--utt-seconds` recording) is timed the same way. The int8 graph's
cosine to the fp32 embeddings is printed; its EER change needs a trained model and trial lists
(`ssrfnet.export.cost.int8_cost`, stage 6 with --quantize int8). The model has random weights (speed only).

  .venv/bin/python bench/bench_inference.py [--runs 5] [--threads 2] [--batch 4] [--conf FILE] [--json OUT]
  .venv/bin/python bench/bench_inference.py --conf egs/voxceleb/conf/ssrfnet_mini.conf --runs 1   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssrfnet.cpu_memory import keep_freed_memory  # noqa: E402
from ssrfnet.export import export_model  # noqa: E402
from ssrfnet.export.graph import realish_audio  # noqa: E402
from ssrfnet.export.runtime import OnnxEmbedder  # noqa: E402
from ssrfnet.extract import EmbeddingExtractor  # noqa: E402
from ssrfnet.models import build_model, use_fast_kernels, use_plain_ops  # noqa: E402
from ssrfnet.models.options import add_model_options, model_config_from_args  # noqa: E402

BASELINE = "plain"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--batch", type=int, default=4, help="crops per forward pass")
    parser.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--utt-seconds", type=float, default=8.0, help="recording length, 10-crop cost")
    parser.add_argument("--num-crops", type=int, default=10)
    parser.add_argument("--per-tensor", action="store_true", help="int8 weights per tensor, not per channel")
    parser.add_argument("--conf", default=None, help="Kaldi option file with model keys (default: full size)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    add_model_options(parser)
    args = parser.parse_args()
    if args.conf:
        from ssrfnet.config import read_conf

        keys = {a.dest for a in parser._actions}
        argv = [f"--{k}={v}" for k, v, _ in read_conf(args.conf) if k.replace("-", "_") in keys]
        args = parser.parse_args(argv + sys.argv[1:])
    return args


def make_backends(model, cfg: dict, work: Path, per_channel: bool) -> tuple[dict, dict]:
    """{name: embedder} for the four backends (torch models are switched per call) and the export report."""
    report = export_model(model, work, config=cfg, runs=1, batch_sizes=(), formats=("onnx",), quantize="int8",
                          int8_per_channel=per_channel)
    backends = {
        "plain": use_plain_ops(model),
        "fast": model,  # switched to the fast kernels before each of its calls
        "onnxruntime_fp32": OnnxEmbedder(work / "model.onnx", quantized=False),
        "onnxruntime_int8": OnnxEmbedder(work / "model.int8.onnx", quantized=True),
    }
    return backends, report


def prepared(name: str, backend):
    if name == "fast":
        return use_fast_kernels(backend)
    if name == "plain":
        return use_plain_ops(backend)
    return backend


def timed(fn) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, 1-min load average after it) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu, os.getloadavg()[0]


def alternate(tasks: dict, runs: int, warmup: int) -> dict:
    """{name: [(wall, cpu, load), ...]} with every task run once per round, in turn."""
    times = {name: [] for name in tasks}
    for i in range(warmup + runs):
        for name, fn in tasks.items():
            t = timed(fn)
            if i >= warmup:
                times[name].append(t)
    return times


def summarise(what: str, times: dict, unit: float = 1.0) -> dict:
    out = {}
    for name, ts in times.items():
        walls = [t[0] for t in ts]
        loads = [round(t[2], 2) for t in ts]
        ratios = [b[0] / t[0] for b, t in zip(times[BASELINE], ts)]
        cpu = statistics.median(t[1] for t in ts)
        out[name] = {"median_wall_s": statistics.median(walls), "median_cpu_s": cpu, "wall_runs_s": walls,
                     "load_1min": loads, "speedup_vs_plain": statistics.median(ratios)}
        print(f"{what:10s} {name:17s} median wall {1000 * out[name]['median_wall_s'] / unit:8.1f} ms, "
              f"CPU {1000 * out[name]['median_cpu_s'] / unit:8.1f} ms, "
              f"x{out[name]['speedup_vs_plain']:.2f} vs plain eager; "
              f"runs {[round(w, 3) for w in walls]}, 1-min load {loads}")
    return out


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    malloc_tuned = keep_freed_memory()
    torch.manual_seed(0)
    cfg = model_config_from_args(args)
    model = build_model(cfg).eval()
    length = model.crop_samples or 48000
    wav = torch.from_numpy(np.resize(realish_audio(length * args.batch), (args.batch, length)).copy())
    utterance = realish_audio(int(args.utt_seconds * 16000), seed=1)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_inference.") as work:
        backends, report = make_backends(model, cfg, Path(work), not args.per_tensor)
        print(f"torch {torch.__version__}, threads {args.threads}, batch {args.batch} x {length} samples, "
              f"{sum(p.numel() for p in model.parameters()):,} parameters, "
              f"freed memory kept: {malloc_tuned}, "
              f"export {report['files']['onnx']}; "
              f"int8: {report['int8']['quantized_nodes']} MatMuls, per-channel {not args.per_tensor}")

        def forward(name):
            def run():
                with torch.inference_mode():
                    prepared(name, backends[name])(wav)
            return run

        def crops(name):
            extractor = EmbeddingExtractor(backends[name], num_crops=args.num_crops,
                                           batch_size=args.num_crops)
            return lambda: (prepared(name, backends[name]), list(extractor.extract([("utt", utterance)])))

        batch = summarise("batch", alternate({n: forward(n) for n in backends}, args.runs, args.warmup))
        utt = summarise("10-crop", alternate({n: crops(n) for n in backends}, args.runs, args.warmup))
        with torch.inference_mode():
            fp32 = backends["onnxruntime_fp32"](wav).numpy()
            int8 = backends["onnxruntime_int8"](wav).numpy()
    cos = (fp32 * int8).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(int8, axis=1)
    load1 = os.getloadavg()
    print(f"int8 vs fp32 cosine on the batch: mean {cos.mean():.5f}, min {cos.min():.5f} (random weights)")
    print(f"load average (1, 5, 15 min): before {tuple(round(v, 2) for v in load0)}, "
          f"after {tuple(round(v, 2) for v in load1)} on {os.cpu_count()} CPUs")
    if args.json:
        result = {"batch": batch, "ten_crop_utterance": utt, "int8_cosine": cos.tolist(),
                  "threads": args.threads, "batch_size": args.batch, "utt_seconds": args.utt_seconds,
                  "config": cfg, "load_before": load0, "load_after": load1}
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
