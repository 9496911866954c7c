"""Extraction throughput: batched crops (many crops and utterances per forward pass, as stage 4 does)
against a one-crop-at-a-time loop, measured in the same run on a small real model (build_model).

usage: python bench/bench_extract.py [--utts 8] [--seconds 8] [--batch-size 40] [--runs 3] [--threads 2]
       [--full]   # the full official SSRFNet instead of the small one (slow on CPU)
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssrfnet.data.crops import make_crops  # noqa: E402
from ssrfnet.extract import EmbeddingExtractor  # noqa: E402
from ssrfnet.models import build_model  # noqa: E402
from ssrfnet.timing import median_seconds  # noqa: E402

SMALL = dict(model_type="ssrfnet", embed_dim=192, svmixer_layers=4, svmixer_hidden=128,
             svmixer_cnn_channels=32, svmixer_group_dim=32, redimnet_freq=16, redimnet_channels=8,
             pfm_windows=2, pfm_layers=2, redimnet_stages="1:1:1:4,2:1:1:4")




def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--utts", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--full", action="store_true", help="full official-size SSRFNet")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model({} if args.full else SMALL).eval()
    params = sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(0)
    utts = [(f"u{i}", 0.1 * rng.standard_normal(int(args.seconds * 16000)).astype(np.float32))
            for i in range(args.utts)]
    batched = EmbeddingExtractor(model, batch_size=args.batch_size)
    single = EmbeddingExtractor(model, batch_size=1)
    n_crops = args.utts * batched.num_crops
    print(f"# {params / 1e6:.2f} M parameters, {args.utts} utterances x {batched.num_crops} crops of "
          f"{batched.crop_samples} samples, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}")

    def run_batched():
        return list(batched.extract(utts))

    def run_loop():
        out = []
        for key, wav in utts:
            crops = make_crops(wav, single.crop_samples, single.num_crops)
            out.append((key, np.concatenate([single.forward(c[None]) for c in crops])))
        return out

    t_batched = median_seconds(run_batched, args.runs, warmup=1)
    t_loop = median_seconds(run_loop, args.runs, warmup=1)
    diff = max(np.abs(a[2] - b[1]).max() for a, b in zip(run_batched(), run_loop()))
    print(f"batched ({args.batch_size} crops/forward): {t_batched:.3f} s, {n_crops / t_batched:.1f} crops/s")
    print(f"one crop per forward:         {t_loop:.3f} s, {n_crops / t_loop:.1f} crops/s")
    print(f"speed-up {t_loop / t_batched:.2f}x (median of {args.runs}); max |difference| {diff:.2e}")


if __name__ == "__main__":
    main()
