"""EER and minDCF of a score file (`enroll test score target|nontarget`, or label 1/0).

e.g.: python -m ssrfnet.bin.compute_metrics --scores exp/ssrfnet/scores/vox1_O_cleaned.score
"""

from __future__ import annotations

import sys

from ssrfnet import cli


def build_parser():
    parser = cli.new_parser("compute_metrics", __doc__, runtime=False)
    parser.add_argument("--scores", required=True, nargs="+", help="score file(s)")
    parser.add_argument("--p-target", type=float, nargs="+", default=[0.01, 0.05])
    parser.add_argument("--c-miss", type=float, default=1.0)
    parser.add_argument("--c-fa", type=float, default=1.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser


def run(args) -> int:
    from ssrfnet.fileio import strict_json
    from ssrfnet.scoring.metrics import compute_metrics, format_metrics, read_scores

    results = {}
    for path in args.scores:
        s = read_scores(path)
        results[path] = compute_metrics(s.scores, s.labels, args.p_target, args.c_miss, args.c_fa, name=path)
    if args.json:
        print(strict_json(results[args.scores[0]] if len(args.scores) == 1 else results, indent=2))
        return 0
    for path, metrics in results.items():
        if len(results) > 1:
            print(f"# {path}")
        print(format_metrics(metrics, args.p_target, args.c_miss, args.c_fa))
    return 0


main = cli.main_of("compute_metrics", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
