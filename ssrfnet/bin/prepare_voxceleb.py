"""Stage 0: VoxCeleb1 + VoxCeleb2-dev data directories, held-out development split and trials.

python -m ssrfnet.bin.prepare_voxceleb [--nj N] [--m4a-mode pipe|convert] [--convert-dir DIR]
    [--num-heldout-spk N] [--heldout-trials N] [--seed S] <vox1-root> <vox2-root> <data-dir>
"""

from __future__ import annotations

import argparse
import sys

from ssrfnet.prep.common import PrepError
from ssrfnet.prep.voxceleb import prepare_voxceleb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nj", type=int, default=4, help="parallel processes for durations / conversion")
    parser.add_argument(
        "--m4a-mode",
        choices=("pipe", "convert"),
        default="pipe",
        help="m4a via an ffmpeg pipe in wav.scp, or converted once to wav",
    )
    parser.add_argument(
        "--convert-dir",
        default=None,
        help="where --m4a-mode convert writes wavs (default <vox2-root>/dev/wav)",
    )
    parser.add_argument(
        "--num-heldout-spk",
        type=int,
        default=40,
        help="VoxCeleb2-dev speakers held out for development trials (0: none)",
    )
    parser.add_argument("--heldout-trials", type=int, default=2000, help="at most this many held-out trials")
    parser.add_argument("--seed", type=int, default=777, help="seed for the held-out speakers and trials")
    parser.add_argument("vox1_root")
    parser.add_argument("vox2_root")
    parser.add_argument("data_dir")
    args = parser.parse_args(argv)
    try:
        prepare_voxceleb(
            args.vox1_root,
            args.vox2_root,
            args.data_dir,
            nj=args.nj,
            m4a_mode=args.m4a_mode,
            convert_dir=args.convert_dir,
            num_heldout_spk=args.num_heldout_spk,
            heldout_max_trials=args.heldout_trials,
            seed=args.seed,
        )
    except PrepError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
