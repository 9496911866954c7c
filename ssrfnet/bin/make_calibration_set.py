"""Calibration trials (short 2-6 s segments vs long > 6 s utterances) from the held-out training speakers.

e.g.: python -m ssrfnet.bin.make_calibration_set data/vox2_heldout data/vox2_cal
"""

from __future__ import annotations

import argparse
import sys

from ssrfnet import cli
from ssrfnet.prep.calibration_set import LONG_MIN_SECONDS, SHORT_SECONDS, make_calibration_set


def _lengths(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two lengths such as 2,6, got {text!r}") from None
    return lo, hi


def build_parser():
    parser = cli.new_parser("make_calibration_set", __doc__, runtime=False)
    parser.add_argument("--seed", type=int, default=777, help="segment lengths, positions and trial draws")
    parser.add_argument("--short-seconds", type=_lengths, default=SHORT_SECONDS,
                        help="range of the short segments' lengths (default 2,6)")
    parser.add_argument("--long-min", type=float, default=LONG_MIN_SECONDS,
                        help="utterances longer than this serve whole as long segments (default 6)")
    parser.add_argument("--max-utts-per-spk", type=int, default=20,
                        help="source utterances per speaker (0: all)")
    parser.add_argument("--max-trials", type=int, default=20000, help="at most this many trials")
    parser.add_argument("--nj", type=int, default=4, help="threads cutting the short segments")
    parser.add_argument("src_dir", help="held-out data dir (wav.scp, utt2spk, utt2dur)")
    parser.add_argument("out_dir", help="calibration data dir to write")
    return parser


def run(args) -> int:
    make_calibration_set(args.src_dir, args.out_dir, seed=args.seed, short_seconds=args.short_seconds,
                         long_min=args.long_min, max_utts_per_spk=args.max_utts_per_spk,
                         max_trials=args.max_trials, nj=args.nj)
    return 0


main = cli.main_of("make_calibration_set", build_parser, run, memory=True)


if __name__ == "__main__":
    sys.exit(main())
