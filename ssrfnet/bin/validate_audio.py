"""Check the audio of a data directory up front (steps/validate_audio.sh runs the steps as a job array).

e.g.: python -m ssrfnet.bin.validate_audio --data data/vox2_train --out-dir exp/ssrfnet/audio_check \\
        --job 1 --num-jobs 4                   # one share: header, 16 kHz, samples, key in utt2spk
      python -m ssrfnet.bin.validate_audio --data data/vox2_train --out-dir exp/ssrfnet/audio_check \\
        --summarize --num-jobs 4 [--skip-bad true]   # bad_utts, notes, one summary; exit 1 on bad entries
      python -m ssrfnet.bin.validate_audio --data data/vox2_train --out-dir exp/ssrfnet/audio_check \\
        --is-checked                                 # exit 0 when unchanged since the last check, else 3
"""

from __future__ import annotations

import sys

from ssrfnet import cli
from ssrfnet.config import str2bool


def build_parser():
    parser = cli.new_parser("validate_audio", __doc__, runtime=False)
    add = parser.add_argument
    add("--data", required=True, help="data directory (wav.scp; utt2spk when present)")
    add("--out-dir", required=True, help="where the findings go (split/, bad_utts, notes, checked)")
    add("--job", type=int, default=1, help="this job's share, 1-based")
    add("--num-jobs", type=int, default=1)
    add("--decode", choices=["none", "pipes", "all"], default="pipes",
        help="decode nothing (headers only), pipes only (default), or every file (finds NaN/Inf, silence)")
    add("--crop-seconds", type=float, default=0.0, help="note entries shorter than this (0: no note)")
    add("--summarize", action="store_true", help="join the job outputs and report")
    add("--skip-bad", type=str2bool, default=False, help="with --summarize: bad entries are not an error")
    add("--is-checked", action="store_true", help="exit 0 if this data was already checked, else 3")
    return parser


def run(args) -> int:
    from ssrfnet.prep.audio_check import check_job, is_checked, summarize

    if args.is_checked:
        return 0 if is_checked(args.data, args.out_dir, args.decode, args.crop_seconds) else 3
    if args.summarize:
        result = summarize(args.data, args.out_dir, args.num_jobs, skip_bad=args.skip_bad, decode=args.decode,
                           crop_seconds=args.crop_seconds)
        for line in result["lines"]:
            print(f"validate_audio: {line}", file=sys.stderr)
        usable = result["total"] - len(result["bad"])
        print(f"validate_audio: {usable} of {result['total']} entries of {args.data}/wav.scp are usable")
        return 0
    found = check_job(args.data, args.out_dir, job=args.job, num_jobs=args.num_jobs, decode=args.decode,
                      crop_seconds=args.crop_seconds)
    for key, why in found["bad"]:
        print(f"validate_audio: bad entry {key}: {why}")
    return 0


main = cli.main_of("validate_audio", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
