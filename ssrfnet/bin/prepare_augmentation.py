"""Stage 1: MUSAN noise/music/speech and simulated-RIR data directories, each with packed audio.

python -m ssrfnet.bin.prepare_augmentation [--nj N] <musan-root> <rirs-root> <data-dir>
"""

from __future__ import annotations

import argparse
import sys

from ssrfnet.prep.augment_sets import prepare_augmentation
from ssrfnet.prep.common import PrepError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nj", type=int, default=4, help="parallel threads for reading and packing")
    parser.add_argument("musan_root", help="MUSAN root (holding noise/ music/ speech/), or its parent")
    parser.add_argument("rirs_root", help="RIRS_NOISES root (holding simulated_rirs/), or its parent")
    parser.add_argument("data_dir")
    args = parser.parse_args(argv)
    try:
        prepare_augmentation(args.musan_root, args.rirs_root, args.data_dir, nj=args.nj)
    except PrepError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
