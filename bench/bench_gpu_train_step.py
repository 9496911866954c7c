#!/usr/bin/env python3
"""GPU training step of the full SSRFNet with a WavLM-Large-sized teacher: time, peak memory, FLOPs and MFU.

One OS-KDFT step = teacher forward on the clean crops (inference mode), student + backend forward on the
augmented crops, AAM-softmax (5,994 classes, top-K) + KD loss (3 heads on the last student state against
teacher layers 8/16/24), backward, gradient clipping at 10 and an AdamW step. The teacher is randomly
initialised with WavLM Large's shape (315 M parameters; no weights are downloaded), which costs the same time
as the real one. For each batch (default 32, one GPU's share of the official 128, and 128) the variants run in
one process, so that they share the machine's state:

  fp32            plain ops, TF32 off (the baseline of the ratios)
  bf16            bf16 autocast of the student and backend, bf16 teacher
  bf16+cl         ... and the fast twins (ssrfnet.models.fast: ReDimNet's 2-D maps channels-last)
  bf16+cl+fused   ... and fused AdamW
  bf16+cl+fused+compile   ... and torch.compile of the model (the first steps compile: more warm-up)

FLOPs per step are counted once per batch with torch.utils.flop_counter (the teacher's forward, and 3x the
forward of the model and losses for forward + backward: see count_flops); MFU = FLOPs / step time /
--peak-tflops (default from the device name, dense bf16 tensor-core peak). Extraction throughput: eval-mode
bf16 embeddings of 3 s crops, crops/s.

  python bench/bench_gpu_train_step.py [--batches 32,128] [--steps 8] [--warmup 3] [--json OUT]
  python bench/bench_gpu_train_step.py --count-flops --device cpu --batches 2    # FLOPs only, any machine
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssrfnet.cli import all_option_names  # noqa: E402
from ssrfnet.config import config_dict, parse_args  # noqa: E402
from ssrfnet.losses import AAMSoftmax, KDLoss  # noqa: E402
from ssrfnet.models import build_model, count_parameters  # noqa: E402
from ssrfnet.models.fast import use_fast_kernels, use_plain_ops  # noqa: E402
from ssrfnet.models.options import add_model_options  # noqa: E402
from ssrfnet.models.teacher import WavLMTeacher, make_random_wavlm  # noqa: E402

VARIANTS = ("fp32", "bf16", "bf16+cl", "bf16+cl+fused", "bf16+cl+fused+compile")
# dense bf16 tensor-core peaks, TFLOP/s, by a substring of torch.cuda.get_device_name()
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "A6000": 155.0, "A5000": 111.0,
                    "L40S": 362.0, "L4": 121.0, "4090": 165.0, "V100": 125.0}
CROP = 48000


def build(conf: str, teacher_dir: Path, device: torch.device):
    parser = add_model_options(argparse.ArgumentParser(add_help=False))
    args = parse_args(parser, ["--conf", conf], other_keys=all_option_names())
    model = use_plain_ops(build_model(config_dict(args, add_model_options))).to(device).train()
    make_random_wavlm(teacher_dir, hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096)
    teacher = WavLMTeacher(teacher_dir, layers=(8, 16, 24)).to(device)
    aam = AAMSoftmax(model.embed_dim, 5994, margin=0.2, scale=30.0, topk=5, topk_margin=0.1).to(device)
    kd = KDLoss(model.student.hidden_size, teacher.hidden_size, num_heads=3).to(device)
    return model, teacher, aam, kd


def make_step(parts, variant: str, batch: int, device: torch.device):
    """The training step of `variant` (a closure over fixed random crops) and the model it runs."""
    model, teacher, aam, kd = parts
    bf16 = variant.startswith("bf16")
    model = use_fast_kernels(model) if "+cl" in variant else use_plain_ops(model)
    forward = torch.compile(model.forward_train) if "compile" in variant else model.forward_train
    teacher.bf16 = bf16
    params = [p for m in (model, aam, kd) for p in m.parameters() if p.requires_grad]
    fused = {"fused": True} if "fused" in variant else {}
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=2e-5, **fused)
    generator = torch.Generator().manual_seed(0)
    clean = (torch.randn(batch, CROP, generator=generator) * 0.05).to(device)
    noisy = clean + 0.01 * torch.randn(batch, CROP, generator=generator).to(device)
    labels = torch.randint(0, 5994, (batch,), generator=generator).to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step():
        targets = teacher(clean)
        with autocast:
            emb, hidden = forward(noisy)
        sv_loss, _ = aam(emb.float(), labels)
        loss = sv_loss + kd(hidden[:, -1].float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()

    return step, model


def count_flops(parts, batch: int, device: torch.device) -> tuple[float, float]:
    """(FLOPs of one training step, of which the teacher's forward), counted with flop_counter on the plain
    fp32 model. The model's forward and losses are counted and tripled for forward + backward (input and
    weight gradients each cost a forward): flop_counter's convolution_backward formula counts 4.8x the
    forward convolutions of this model (grouped convolutions), against the 2x a backward costs."""
    model, teacher, aam, kd = parts
    use_plain_ops(model)
    crops = torch.randn(batch, CROP, device=device) * 0.05
    labels = torch.zeros(batch, dtype=torch.long, device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        targets = teacher(crops)
    teacher_flops = float(counter.get_total_flops())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        emb, hidden = model.forward_train(crops)
        aam(emb, labels)
        kd(hidden[:, -1], targets)
    return teacher_flops + 3.0 * counter.get_total_flops(), teacher_flops


def timed(step, steps: int, warmup: int, device: torch.device) -> list[float]:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *_: None)
    times = []
    for i in range(warmup + steps):
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def extraction_rate(model, batch: int, device: torch.device, runs: int = 5) -> float:
    model.eval()
    crops = torch.randn(batch, CROP, device=device) * 0.05
    autocast = torch.autocast(device.type, dtype=torch.bfloat16)
    with torch.inference_mode(), autocast:
        times = timed(lambda: model(crops), runs, 2, device)
    model.train()
    return batch / statistics.median(times)


def peak_tflops(device: torch.device, given: float | None) -> float | None:
    if given or device.type != "cuda":
        return given
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def measure(parts, variant: str, batch: int, args, device: torch.device, flops: float) -> dict:
    step, model = make_step(parts, variant, batch, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    warmup = args.warmup + (args.compile_warmup if "compile" in variant else 0)
    times = timed(step, args.steps, warmup, device)
    median = statistics.median(times)
    result = {"batch": batch, "variant": variant, "step_s_median": median,
              "step_s_all": [round(t, 4) for t in times], "crops_per_s": batch / median,
              "tflop_per_step": flops / 1e12, "achieved_tflops": flops / median / 1e12}
    if device.type == "cuda":
        result["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    peak = peak_tflops(device, args.peak_tflops)
    if peak:
        result["mfu"] = flops / median / 1e12 / peak
    if variant == "bf16+cl":
        result["extract_crops_per_s"] = extraction_rate(model, batch, device)
    return result


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    default_conf = Path(__file__).resolve().parents[1] / "egs/voxceleb/conf/ssrfnet.conf"
    add = parser.add_argument
    add("--conf", default=str(default_conf))
    add("--batches", default="32,128", help="comma-separated per-GPU batch sizes")
    add("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    add("--steps", type=int, default=8)
    add("--warmup", type=int, default=3)
    add("--compile-warmup", type=int, default=3, help="extra warm-up steps of the compiled variant")
    add("--device", default="cuda", help="cuda (the measurement) or cpu (with --count-flops)")
    add("--count-flops", action="store_true", help="only count the FLOPs of one step per batch (no timing)")
    add("--peak-tflops", type=float, default=None, help="bf16 peak of the GPU (default: from its name)")
    add("--json", help="also write the figures to this file")
    return parser


def main(argv=None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("needs a CUDA GPU (or --count-flops --device cpu)")
    if device.type != "cuda" and not args.count_flops:
        parser.error("timing needs --device cuda; on a CPU, add --count-flops")
    variants = [v for v in args.variants.split(",") if v]
    if unknown := [v for v in variants if v not in VARIANTS]:
        parser.error(f"unknown --variants {unknown}; choose from {', '.join(VARIANTS)}")
    batches = [int(b) for b in args.batches.split(",")]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        parts = build(args.conf, Path(tmp) / "wavlm_large_random", device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        print(f"device: {name}, torch {torch.__version__}; bf16 peak {peak_tflops(device, args.peak_tflops)} "
              f"TFLOP/s; model parameters {count_parameters(parts[0])}; teacher "
              f"{sum(p.numel() for p in parts[1].parameters()):,}")
        for batch in batches:
            flops, teacher_flops = count_flops(parts, batch, device)
            per_crop, teacher_per_crop = flops / batch / 1e9, teacher_flops / batch / 1e9
            print(f"batch {batch} x 3 s: {flops / 1e12:.3f} TFLOP per training step, {per_crop:.1f} GFLOP "
                  f"per crop, of which the teacher's forward {teacher_per_crop:.1f}", flush=True)
            if args.count_flops:
                results.append({"batch": batch, "tflop_per_step": flops / 1e12,
                                "teacher_tflop": teacher_flops / 1e12})
                continue
            baseline = None
            for variant in variants:
                try:
                    res = measure(parts, variant, batch, args, device, flops)
                except torch.OutOfMemoryError:
                    res = {"batch": batch, "variant": variant, "error": "out of memory"}
                torch.cuda.empty_cache()
                if variant == "fp32" and "error" not in res:
                    baseline = res["step_s_median"]
                if baseline and "error" not in res:
                    res["speedup_vs_fp32"] = baseline / res["step_s_median"]
                results.append(res)
                print(json.dumps(res), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
