"""Stage 0 in three steps, for a job array (local/prepare_voxceleb.sh runs them; see ssrfnet.prep.voxceleb).

python -m ssrfnet.bin.prepare_voxceleb_jobs plan [--nj N] [--m4a-mode pipe|convert] [--convert-dir DIR]
    [--num-heldout-spk N] [--heldout-trials N] [--seed S] <vox1-root> <vox2-root> <data-dir> <work-dir>
python -m ssrfnet.bin.prepare_voxceleb_jobs job --job N <work-dir>     # N in 1..<work-dir>/num_jobs
python -m ssrfnet.bin.prepare_voxceleb_jobs merge <work-dir>
e.g.: python -m ssrfnet.bin.prepare_voxceleb_jobs job --job 3 data/.prepare_voxceleb.work
"""

from __future__ import annotations

import sys

from ssrfnet import cli
from ssrfnet.prep.voxceleb import merge_voxceleb, plan_voxceleb, run_voxceleb_job


def build_parser():
    parser = cli.new_parser("prepare_voxceleb_jobs", __doc__, runtime=False)
    steps = parser.add_subparsers(dest="step", required=True)
    plan = steps.add_parser("plan", help="scan the corpora and write the per-file work as job shares")
    plan.add_argument("--nj", type=int, default=4, help="at most this many job shares")
    plan.add_argument("--m4a-mode", choices=("pipe", "convert"), default="pipe",
                      help="m4a via an ffmpeg pipe in wav.scp, or converted once to wav")
    plan.add_argument("--convert-dir", default=None,
                      help="where --m4a-mode convert writes wavs (default <vox2-root>/dev/wav)")
    plan.add_argument("--num-heldout-spk", type=int, default=40,
                      help="VoxCeleb2-dev speakers held out for development trials (0: none)")
    plan.add_argument("--heldout-trials", type=int, default=2000, help="at most this many held-out trials")
    plan.add_argument("--seed", type=int, default=777, help="seed for the held-out speakers and trials")
    for name in ("vox1_root", "vox2_root", "data_dir", "work_dir"):
        plan.add_argument(name)
    job = steps.add_parser("job", help="convert and count the files of one share")
    job.add_argument("--job", type=int, required=True, help="share number, 1-based (JOB of the array)")
    job.add_argument("work_dir")
    merge = steps.add_parser("merge", help="write, check and install the data dirs")
    merge.add_argument("work_dir")
    return parser


def run(args) -> int:
    if args.step == "plan":
        plan_voxceleb(args.vox1_root, args.vox2_root, args.data_dir, args.work_dir, nj=args.nj,
                      m4a_mode=args.m4a_mode, convert_dir=args.convert_dir,
                      num_heldout_spk=args.num_heldout_spk, heldout_max_trials=args.heldout_trials,
                      seed=args.seed)
    elif args.step == "job":
        run_voxceleb_job(args.work_dir, args.job)
    else:
        merge_voxceleb(args.work_dir)
    return 0


main = cli.main_of("prepare_voxceleb_jobs", build_parser, run, memory=True)

if __name__ == "__main__":
    sys.exit(main())
