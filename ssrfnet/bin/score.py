"""Stage 5: cosine / crop-mean scoring, optional AS-norm, EER + minDCF, DET plots and result tables.

e.g.: python -m ssrfnet.bin.score --conf exp/ssrfnet/config.conf --exp-dir exp/ssrfnet \\
        --emb-dir exp/ssrfnet/embeddings/vox1 --trials data/vox1/trials/vox1_O_cleaned.kaldi \\
        --asnorm true --cohort-emb exp/ssrfnet/embeddings/vox2_train --cohort-data data/vox2_train \\
        --dev-trials data/vox2_heldout/trials/heldout.kaldi --dev-emb exp/ssrfnet/embeddings/vox2_heldout
"""

from __future__ import annotations

import argparse
import sys

from ssrfnet.config import ConfError, parse_args, str2bool
from ssrfnet.kaldi.table import TableError
from ssrfnet.kaldi.trials import TrialsError
from ssrfnet.scoring.cosine import EmbeddingError
from ssrfnet.scoring.metrics import ScoreError
from ssrfnet.scoring.options import add_eval_options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--exp-dir", required=True, help="experiment dir (gets scores/, results.md)")
    parser.add_argument("--emb-dir", required=True, help="test-set embeddings (xvector.scp, crops.scp)")
    parser.add_argument("--trials", required=True, nargs="+", help="Kaldi trial lists")
    parser.add_argument("--asnorm", type=str2bool, default=False, help="also report AS-norm scores")
    parser.add_argument("--cohort-emb", default=None, help="embeddings of the cohort (training) set")
    parser.add_argument("--cohort-data", default=None, help="cohort data directory (its utt2spk)")
    parser.add_argument("--dev-trials", default=None, help="development trials for the verify threshold")
    parser.add_argument("--dev-emb", default=None, help="embeddings of the development trials' utterances")
    parser.add_argument("--model", default=None, help="model for the params/MACs (default EXP/final.pt)")
    parser.add_argument("--det", type=str2bool, default=True, help="write DET plots")
    add_eval_options(parser)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parse_args(parser, argv)
        from ssrfnet.scoring.pipeline import score_experiment

        score_experiment(
            args.exp_dir,
            args.emb_dir,
            args.trials,
            protocol=args.eval_protocol,
            subtract_mean=args.eval_subtract_mean,
            asnorm=args.asnorm,
            top_n=args.asnorm_top_n,
            cohort_emb=args.cohort_emb,
            cohort_data=args.cohort_data,
            dev_trials=args.dev_trials,
            dev_emb=args.dev_emb,
            p_targets=args.p_targets,
            model_path=args.model,
            det=args.det,
        )
    except (ScoreError, EmbeddingError, TrialsError, TableError, ConfError, ValueError) as err:
        print(f"score: error: {err}", file=sys.stderr)
        return 1
    with open(f"{args.exp_dir}/results.md", encoding="utf-8") as handle:
        print(handle.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
