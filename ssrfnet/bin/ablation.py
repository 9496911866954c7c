"""The ablation table of every finished experiment under an exp dir: <exp>/ablation.md and ablation.json.

e.g.: python -m ssrfnet.bin.ablation exp
"""

from __future__ import annotations

import argparse
import sys

from ssrfnet.errors import SSRFNetError
from ssrfnet.scoring.ablation import write_ablation


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out-md", default=None, help="markdown table (default <exp>/ablation.md)")
    parser.add_argument("--out-json", default=None, help="JSON rows (default <exp>/ablation.json)")
    parser.add_argument("exp_root", help="directory holding the experiment dirs (exp)")
    args = parser.parse_args(argv)
    try:
        blob = write_ablation(args.exp_root, args.out_md, args.out_json)
    except SSRFNetError as err:
        print(f"ablation: error: {err}", file=sys.stderr)
        return 1
    print(f"ablation: {len(blob['rows'])} rows from {len(blob['experiments'])} experiment(s) -> "
          f"{args.out_md or args.exp_root + '/ablation.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
