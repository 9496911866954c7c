"""Convert official released weights into our model file.

Accepts the released SSRFNet pair (ssrfnet_eer0.60_sv_mixer_state_dict.pt + ..._classifier_state_dict.pt,
as two paths, their directory or 'a.pt,b.pt'), an official SSRFNet Lightning checkpoint, and every IDRnD
ReDimNet hub file ({model}-{dataset}-{train_type}.pt, current or pre-Nov-2024 key layout). Files are read
with torch.load(weights_only=True): nothing in them runs. See docs/official-models.md.

e.g.: python -m ssrfnet.bin.import_official downloads/ssrfnet --out exp/ssrfnet_official/final.pt
      python -m ssrfnet.bin.import_official b2-vox2-ft_lm.pt --out exp/redimnet_b2/final.pt
"""

from __future__ import annotations

import sys

from ssrfnet import cli


def build_parser():
    parser = cli.new_parser("import_official", __doc__, runtime=False)
    parser.add_argument("sources", nargs="+", metavar="SRC",
                        help="one official file, a directory holding the pair, or the pair's two files")
    parser.add_argument("--out", required=True, help="our model file to write")
    return parser


def run(args) -> int:
    from ssrfnet.models.conversion import import_official

    recognised = import_official(args.sources, args.out)
    print(f"import_official: {recognised.summary()}")
    print(f"import_official: wrote {args.out}")
    return 0


main = cli.main_of("import_official", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
