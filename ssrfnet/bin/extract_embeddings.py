"""Stage 4 worker: embed one job's share of a data directory, or merge the jobs' outputs.

e.g.: python -m ssrfnet.bin.extract_embeddings --conf exp/ssrfnet/config.conf --model exp/ssrfnet/final.pt \\
        --data data/vox1 --out-dir exp/ssrfnet/embeddings/vox1 --job 1 --num-jobs 4
      python -m ssrfnet.bin.extract_embeddings --merge --data data/vox1 \\
        --out-dir exp/ssrfnet/embeddings/vox1 --num-jobs 4
"""

from __future__ import annotations

import argparse
import logging
import sys

from ssrfnet.config import ConfError, parse_args
from ssrfnet.scoring.options import add_eval_options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model file (our format or an official checkpoint)")
    parser.add_argument("--data", required=True, help="data directory with wav.scp")
    parser.add_argument("--out-dir", required=True, help="embedding directory")
    parser.add_argument("--job", type=int, default=1, help="this job's index, 1-based")
    parser.add_argument("--num-jobs", type=int, default=1)
    parser.add_argument("--merge", action="store_true", help="merge the job outputs and check coverage")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1 ...")
    parser.add_argument("--num-threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    parser.add_argument("--prefetch", type=int, default=4, help="audio files read ahead in threads")
    add_eval_options(parser)
    return parser


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = build_parser()
    try:
        args = parse_args(parser, argv)
    except ConfError as err:
        print(f"extract_embeddings: error: {err}", file=sys.stderr)
        return 1
    from ssrfnet.cpu_memory import keep_freed_memory
    from ssrfnet.extract import EmbeddingExtractor, ExtractionError, extract_job, merge_parts

    keep_freed_memory()

    try:
        if args.merge:
            n = merge_parts(args.data, args.out_dir, args.num_jobs, args.eval_write_crops)
            print(f"extract_embeddings: {n} utterances in {args.out_dir}/xvector.scp")
            return 0
        if not args.model:
            parser.error("--model is required (unless --merge)")
        import torch

        from ssrfnet.models import load_model

        if args.num_threads > 0:
            torch.set_num_threads(args.num_threads)
        model = load_model(args.model)
        extractor = EmbeddingExtractor(
            model,
            num_crops=args.eval_num_crops,
            crop_seconds=args.eval_crop_seconds,
            batch_size=args.eval_batch_size,
            full_utt=args.eval_full_utt,
            device=args.device,
        )
        logging.info(
            "model %s: embed_dim %d, %s, %d crops of %d samples, %d crops per batch, device %s",
            args.model, extractor.embed_dim,
            "fixed length" if extractor.fixed_length else "any length",
            extractor.num_crops, extractor.crop_samples, extractor.batch_size, extractor.device,
        )
        result = extract_job(
            extractor, args.data, args.out_dir, job=args.job, num_jobs=args.num_jobs,
            write_crops=args.eval_write_crops, prefetch=args.prefetch,
        )
    except (ExtractionError, ValueError, OSError) as err:
        print(f"extract_embeddings: error: {err}", file=sys.stderr)
        return 1
    for key, why in result["failed"]:
        print(f"extract_embeddings: WARNING: no embedding for {key}: {why}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
