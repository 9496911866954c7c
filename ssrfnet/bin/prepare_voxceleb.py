"""Stage 0: VoxCeleb1 + VoxCeleb2-dev data directories, held-out development split and trials.

python -m ssrfnet.bin.prepare_voxceleb [--nj N] [--m4a-mode pipe|convert] [--convert-dir DIR]
    [--num-heldout-spk N] [--heldout-trials N] [--seed S] <vox1-root> <vox2-root> <data-dir>
"""

from __future__ import annotations

import sys

from ssrfnet import cli


def build_parser():
    parser = cli.new_parser("prepare_voxceleb", __doc__, runtime=False)
    add = parser.add_argument
    add("--nj", type=int, default=4, help="parallel processes for durations / conversion")
    add("--m4a-mode", choices=("pipe", "convert"), default="pipe",
        help="m4a via an ffmpeg pipe in wav.scp, or converted once to wav")
    add("--convert-dir", default=None,
        help="where --m4a-mode convert writes wavs (default <vox2-root>/dev/wav)")
    add("--num-heldout-spk", type=int, default=40,
        help="VoxCeleb2-dev speakers held out for development trials (0: none)")
    add("--heldout-trials", type=int, default=2000, help="at most this many held-out trials")
    add("--seed", type=int, default=777, help="seed for the held-out speakers and trials")
    add("vox1_root")
    add("vox2_root")
    add("data_dir")
    return parser


def run(args) -> int:
    from ssrfnet.prep.voxceleb import prepare_voxceleb

    prepare_voxceleb(args.vox1_root, args.vox2_root, args.data_dir, nj=args.nj, m4a_mode=args.m4a_mode,
                     convert_dir=args.convert_dir, num_heldout_spk=args.num_heldout_spk,
                     heldout_max_trials=args.heldout_trials, seed=args.seed)
    return 0


main = cli.main_of("prepare_voxceleb", build_parser, run, memory=True)

if __name__ == "__main__":
    sys.exit(main())
