"""Extract, score and report in one go: EER/minDCF of a model on trial lists, as JSON.

e.g.: python -m ssrfnet.bin.evaluate --model exp/ssrfnet/final.pt --data data/vox1 \\
        --trials data/vox1/trials/vox1_O_cleaned.kaldi --out exp/ssrfnet/eval_o \\
        [--asnorm-cohort data/vox2_train] [--conf exp/ssrfnet/config.conf]

Writes <out>/embeddings/{test,cohort}/, <out>/scores/, <out>/results.{md,json} and <out>/metrics.json
(EER in %, minDCF per p_target, for each list and system).
"""

from __future__ import annotations

import sys

from ssrfnet import cli
from ssrfnet.scoring.options import add_eval_options


def build_parser():
    parser = cli.new_parser("evaluate", __doc__, add_eval_options)
    cli.add_model_argument(parser)
    parser.add_argument("--data", required=True, help="data directory of the trial utterances")
    parser.add_argument("--trials", required=True, nargs="+", help="Kaldi trial lists")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--asnorm-cohort", default=None, help="cohort data directory: enables AS-norm")
    return parser


def run(args) -> int:
    from ssrfnet.evaluate import evaluate_model
    from ssrfnet.fileio import strict_json

    metrics = evaluate_model(args.model, args.data, args.trials, args.out, vars(args), args.asnorm_cohort,
                             args.device)
    print(strict_json(metrics, indent=2))
    return 0


main = cli.main_of("evaluate", build_parser, run, memory=True)

if __name__ == "__main__":
    sys.exit(main())
