"""Extract, score and report in one go: EER/minDCF of a model on trial lists, as JSON.

e.g.: python -m ssrfnet.bin.evaluate --model exp/ssrfnet/final.pt --data data/vox1 \\
        --trials data/vox1/trials/vox1_O_cleaned.kaldi --out exp/ssrfnet/eval_o \\
        [--asnorm-cohort data/vox2_train] [--conf exp/ssrfnet/config.conf]

Writes <out>/embeddings/{test,cohort}/, <out>/scores/, <out>/results.{md,json} and <out>/metrics.json
(EER in %, minDCF per p_target, for each list and system).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ssrfnet.config import ConfError, parse_args
from ssrfnet.fileio import atomic_write_text
from ssrfnet.scoring.options import add_eval_options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model file (our format or an official checkpoint)")
    parser.add_argument("--data", required=True, help="data directory of the trial utterances")
    parser.add_argument("--trials", required=True, nargs="+", help="Kaldi trial lists")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--asnorm-cohort", default=None, help="cohort data directory: enables AS-norm")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda ...")
    parser.add_argument("--num-threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    add_eval_options(parser)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parse_args(parser, argv)
    except ConfError as err:
        print(f"evaluate: error: {err}", file=sys.stderr)
        return 1
    from ssrfnet.audio import AudioError
    from ssrfnet.extract import ExtractionError, extract_data_dir
    from ssrfnet.kaldi.table import TableError
    from ssrfnet.kaldi.trials import TrialsError
    from ssrfnet.models import load_model

    if args.num_threads > 0:
        import torch

        torch.set_num_threads(args.num_threads)
    from ssrfnet.scoring.cosine import EmbeddingError
    from ssrfnet.scoring.metrics import ScoreError
    from ssrfnet.scoring.pipeline import score_experiment

    out = Path(args.out)
    opts = dict(num_crops=args.eval_num_crops, crop_seconds=args.eval_crop_seconds,
                batch_size=args.eval_batch_size, full_utt=args.eval_full_utt, device=args.device)
    try:
        model = load_model(args.model)
        extract_data_dir(model, args.data, out / "embeddings" / "test",
                         write_crops=args.eval_protocol == "crops", **opts)
        cohort = None
        if args.asnorm_cohort or args.eval_subtract_mean:
            if not args.asnorm_cohort:
                raise ValueError("--eval-subtract-mean needs --asnorm-cohort (the cohort data directory)")
            cohort = out / "embeddings" / "cohort"
            extract_data_dir(model, args.asnorm_cohort, cohort, write_crops=False, **opts)
        results = score_experiment(
            out, out / "embeddings" / "test", args.trials, protocol=args.eval_protocol,
            subtract_mean=args.eval_subtract_mean, asnorm=bool(args.asnorm_cohort),
            top_n=args.asnorm_top_n, cohort_emb=str(cohort) if cohort else None,
            cohort_data=args.asnorm_cohort, p_targets=args.p_targets, model_path=args.model, model=model,
        )
    except (AudioError, ExtractionError, EmbeddingError, ScoreError, TrialsError, TableError,
            OSError, ValueError) as err:
        print(f"evaluate: error: {err}", file=sys.stderr)
        return 1
    metrics = {
        "model": args.model,
        "data": args.data,
        "protocol": args.eval_protocol,
        "lists": results["lists"],
        "parameters": results.get("model", {}).get("parameters"),
        "macs": results.get("model", {}).get("macs"),
    }
    text = json.dumps(metrics, indent=2)
    atomic_write_text(out / "metrics.json", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
