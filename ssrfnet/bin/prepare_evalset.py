"""Stage 0: an evaluation set (VoxSRC-23, VCMix, VOiCES, CN-Celeb1, SITW) as a Kaldi data dir with trials.

python -m ssrfnet.bin.prepare_evalset <set> [--nj N] [set options] <root> <data-dir>
e.g.: python -m ssrfnet.bin.prepare_evalset vcmix --vox1-root /data/VoxCeleb1 /data/vcmix data
"""

from __future__ import annotations

import sys

from ssrfnet import cli
from ssrfnet.errors import ConfError
from ssrfnet.prep.evalsets import PREPARERS

SET_OPTIONS = {
    "voxsrc23": [("--list", "trial_list", "the labelled trial list (default: the first known name in root)"),
                 ("--audio-dir", "audio_dir", "directory the list's paths are relative to")],
    "vcmix": [("--vox1-root", "vox1_root", "VoxCeleb1 root (wav/ and veri_test2.txt); required"),
              ("--list", "trial_list", "the published vcmix_test.txt (default: root/vcmix_test.txt if any)"),
              ("--voxconverse-dir", "voxconverse_dir", "the VoxConverse test SV directory")],
    "voices": [("--dev-list", "dev_list", "a path-based dev list instead of the keys"),
               ("--eval-list", "eval_list", "a path-based eval list instead of the keys")],
    "cnceleb": [("--enroll-from", "enroll_from", "auto|files|map: distributed enrolment files or the "
                 "concatenated enroll.map utterances (default auto)")],
    "sitw": [],
}


def build_parser():
    parser = cli.new_parser("prepare_evalset", __doc__, runtime=False)
    sets = parser.add_subparsers(dest="set", required=True, metavar="<set>", help=" | ".join(PREPARERS))
    for name, options in SET_OPTIONS.items():
        sub = sets.add_parser(name, help=f"prepare {name}")
        sub.add_argument("--nj", type=int, default=4, help="parallel jobs for durations (default 4)")
        for flag, dest, text in options:
            sub.add_argument(flag, dest=dest, default=None, help=text)
        sub.add_argument("root", help=f"the {name} root, as distributed")
        sub.add_argument("data_dir", help="data directory (gets <data-dir>/<set>/)")
    return parser


def run(args) -> int:
    options = {key: value for key, value in vars(args).items()
               if value is not None and key not in ("set", "root", "data_dir", "conf")
               and not key.startswith("_")}
    if args.set == "vcmix":
        if "vox1_root" not in options:
            raise ConfError("vcmix needs --vox1-root (its target trials are VoxCeleb1-O)")
        PREPARERS[args.set](args.root, options.pop("vox1_root"), args.data_dir, **options)
    else:
        PREPARERS[args.set](args.root, args.data_dir, **options)
    return 0


main = cli.main_of("prepare_evalset", build_parser, run, memory=True)

if __name__ == "__main__":
    sys.exit(main())
