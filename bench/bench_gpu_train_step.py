#!/usr/bin/env python3
"""GPU training-step time and peak memory of the full SSRFNet with a WavLM-Large-sized teacher.

One OS-KDFT step = teacher forward on the clean crops (inference mode), student + backend forward on the
augmented crops, AAM-softmax (5,994 classes, top-K) + KD loss (3 heads on the last student state against
teacher layers 8/16/24), backward, gradient clipping at 10 and an AdamW step. The teacher is randomly
initialised with WavLM Large's shape (315 M parameters; no weights can be downloaded here), which costs
the same time as the real one. bf16 autocast and plain fp32 (TF32 off) are measured in the same run.

  python bench/bench_gpu_train_step.py [--batch 128] [--steps 8] [--warmup 3] [--conf CONF]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssrfnet.cli import all_option_names  # noqa: E402
from ssrfnet.config import config_dict, parse_args  # noqa: E402
from ssrfnet.losses import AAMSoftmax, KDLoss  # noqa: E402
from ssrfnet.models import build_model, count_parameters  # noqa: E402
from ssrfnet.models.options import add_model_options  # noqa: E402
from ssrfnet.models.teacher import WavLMTeacher, make_random_wavlm  # noqa: E402


def build(conf: str, teacher_dir: Path, device: torch.device):
    parser = add_model_options(argparse.ArgumentParser(add_help=False))
    args = parse_args(parser, ["--conf", conf], other_keys=all_option_names())
    model_cfg = config_dict(args, add_model_options)
    model = build_model(model_cfg).to(device).train()
    make_random_wavlm(teacher_dir, hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096)
    teacher = WavLMTeacher(teacher_dir, layers=(8, 16, 24)).to(device)
    aam = AAMSoftmax(model.embed_dim, 5994, margin=0.2, scale=30.0, topk=5, topk_margin=0.1).to(device)
    kd = KDLoss(model.student.hidden_size, teacher.hidden_size, num_heads=3).to(device)
    params = [p for m in (model, aam, kd) for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=2e-5)
    return model, teacher, aam, kd, params, optimizer


def measure(parts, batch: int, steps: int, warmup: int, bf16: bool, device: torch.device) -> dict:
    model, teacher, aam, kd, params, optimizer = parts
    teacher.bf16 = bf16
    clean = torch.randn(batch, 48000, device=device) * 0.05
    noisy = clean + 0.01 * torch.randn_like(clean)
    labels = torch.randint(0, 5994, (batch,), device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step():
        targets = teacher(clean)
        with autocast:
            emb, hidden = model.forward_train(noisy)
        sv_loss, _ = aam(emb.float(), labels)
        kd_loss = kd(hidden[:, -1].float(), targets)
        loss = sv_loss + kd_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()

    def teacher_only():
        teacher(clean)

    torch.cuda.reset_peak_memory_stats(device)
    times, teacher_times = [], []
    for i in range(warmup + steps):
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    for _ in range(3):
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        teacher_only()
        torch.cuda.synchronize(device)
        teacher_times.append(time.perf_counter() - start)
    return {
        "precision": "bf16 autocast" if bf16 else "fp32 (TF32 off)",
        "step_s_median": statistics.median(times),
        "step_s_all": [round(t, 4) for t in times],
        "teacher_forward_s_median": statistics.median(teacher_times),
        "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30,
        "crops_per_s": batch / statistics.median(times),
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    default_conf = Path(__file__).resolve().parents[1] / "egs/voxceleb/conf/ssrfnet.conf"
    parser.add_argument("--conf", default=str(default_conf))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_gpu_train_step: needs a CUDA GPU")
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    with tempfile.TemporaryDirectory() as tmp:
        parts = build(args.conf, Path(tmp) / "wavlm_large_random", device)
        counts = count_parameters(parts[0])
        name = torch.cuda.get_device_name(device)
        print(f"device: {name}, torch {torch.__version__}, batch {args.batch} x 3 s")
        print(f"model parameters: {counts}; teacher: {sum(p.numel() for p in parts[1].parameters()):,}")
        results = []
        for bf16 in (True, False):
            try:
                res = measure(parts, args.batch, args.steps, args.warmup, bf16, device)
            except torch.OutOfMemoryError:
                res = {"precision": "bf16 autocast" if bf16 else "fp32 (TF32 off)", "error": "out of memory"}
            torch.cuda.empty_cache()
            results.append(res)
            print(json.dumps(res))
    ok = [r for r in results if "error" not in r]
    if len(ok) == 2:
        print(f"bf16 speed-up over fp32: {ok[1]['step_s_median'] / ok[0]['step_s_median']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
