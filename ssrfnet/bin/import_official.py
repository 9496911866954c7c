"""Convert official released weights into our model file.

Accepts the released SSRFNet pair (ssrfnet_eer0.60_sv_mixer_state_dict.pt + ..._classifier_state_dict.pt,
as two paths, their directory or 'a.pt,b.pt'), an official SSRFNet Lightning checkpoint, and every IDRnD
ReDimNet hub file ({model}-{dataset}-{train_type}.pt, current or pre-Nov-2024 key layout). Files are read
with torch.load(weights_only=True): nothing in them runs. See docs/official-models.md.

e.g.: python -m ssrfnet.bin.import_official downloads/ssrfnet --out exp/ssrfnet_official/final.pt
      python -m ssrfnet.bin.import_official b2-vox2-ft_lm.pt --out exp/redimnet_b2/final.pt
"""

from __future__ import annotations

import argparse
import sys

from ssrfnet.errors import SSRFNetError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssrfnet.bin.import_official", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", metavar="SRC",
                        help="one official file, a directory holding the pair, or the pair's two files")
    parser.add_argument("--out", required=True, help="our model file to write")
    args = parser.parse_args(argv)
    from ssrfnet.models.conversion import import_official

    try:
        recognised = import_official(args.sources, args.out)
    except SSRFNetError as err:
        print(f"import_official: error: {err}", file=sys.stderr)
        return 1
    print(f"import_official: {recognised.summary()}")
    print(f"import_official: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
