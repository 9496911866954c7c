"""The ablation table of every finished experiment under an exp dir: <exp>/ablation.md and ablation.json.

e.g.: python -m ssrfnet.bin.ablation exp
"""

from __future__ import annotations

import sys

from ssrfnet import cli


def build_parser():
    parser = cli.new_parser("ablation", __doc__, runtime=False)
    parser.add_argument("--out-md", default=None, help="markdown table (default <exp>/ablation.md)")
    parser.add_argument("--out-json", default=None, help="JSON rows (default <exp>/ablation.json)")
    parser.add_argument("exp_root", help="directory holding the experiment dirs (exp)")
    return parser


def run(args) -> int:
    from ssrfnet.scoring.ablation import write_ablation

    blob = write_ablation(args.exp_root, args.out_md, args.out_json)
    print(f"ablation: {len(blob['rows'])} rows from {len(blob['experiments'])} experiment(s) -> "
          f"{args.out_md or args.exp_root + '/ablation.md'}")
    return 0


main = cli.main_of("ablation", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
