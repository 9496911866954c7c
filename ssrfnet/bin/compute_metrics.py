"""EER and minDCF of a score file (`enroll test score target|nontarget`, or label 1/0).

e.g.: python -m ssrfnet.bin.compute_metrics --scores exp/ssrfnet/scores/vox1_O_cleaned.score
"""

from __future__ import annotations

import argparse
import json
import sys

from ssrfnet.scoring.metrics import ScoreError, compute_metrics, format_metrics, read_scores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scores", required=True, nargs="+", help="score file(s)")
    parser.add_argument("--p-target", type=float, nargs="+", default=[0.01, 0.05])
    parser.add_argument("--c-miss", type=float, default=1.0)
    parser.add_argument("--c-fa", type=float, default=1.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    results = {}
    try:
        for path in args.scores:
            s = read_scores(path)
            results[path] = compute_metrics(
                s.scores, s.labels, args.p_target, args.c_miss, args.c_fa, name=path
            )
    except (ScoreError, ValueError) as err:
        print(f"compute_metrics: error: {err}", file=sys.stderr)
        return 1
    if args.json:
        out = results[args.scores[0]] if len(args.scores) == 1 else results
        print(json.dumps(out, indent=2))
    else:
        for path, metrics in results.items():
            if len(results) > 1:
                print(f"# {path}")
            print(format_metrics(metrics, args.p_target, args.c_miss, args.c_fa))
    return 0


if __name__ == "__main__":
    sys.exit(main())
