"""Validate Kaldi data directories with the rules of validate_data_dir.sh --no-text --no-feats.

e.g.: python -m ssrfnet.bin.validate_data_dir --require-spk-prefix data/vox2_train data/vox1
"""

from __future__ import annotations

import sys

from ssrfnet import cli


def build_parser():
    parser = cli.new_parser("validate_data_dir", __doc__, runtime=False)
    parser.add_argument("--require-spk-prefix", action="store_true",
                        help="utterance ids must start with their speaker id")
    parser.add_argument("data_dirs", nargs="+")
    return parser


def run(args) -> int:
    from ssrfnet.kaldi.datadir import DataDirError, validate

    failed = 0
    for directory in args.data_dirs:
        try:
            validate(directory, require_spk_prefix=args.require_spk_prefix)
            print(f"{directory}: OK")
        except DataDirError as err:
            print(f"validate_data_dir: error: {cli.one_line(err)}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


main = cli.main_of("validate_data_dir", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
