"""Stage 1: MUSAN noise/music/speech and simulated-RIR data directories, each with packed audio.

python -m ssrfnet.bin.prepare_augmentation [--nj N] <musan-root> <rirs-root> <data-dir>
"""

from __future__ import annotations

import sys

from ssrfnet import cli


def build_parser():
    parser = cli.new_parser("prepare_augmentation", __doc__, runtime=False)
    parser.add_argument("--nj", type=int, default=4, help="parallel threads for reading and packing")
    parser.add_argument("musan_root", help="MUSAN root (holding noise/ music/ speech/), or its parent")
    parser.add_argument("rirs_root", help="RIRS_NOISES root (holding simulated_rirs/), or its parent")
    parser.add_argument("data_dir")
    return parser


def run(args) -> int:
    from ssrfnet.prep.augment_sets import prepare_augmentation

    prepare_augmentation(args.musan_root, args.rirs_root, args.data_dir, nj=args.nj)
    return 0


main = cli.main_of("prepare_augmentation", build_parser, run, memory=True)

if __name__ == "__main__":
    sys.exit(main())
