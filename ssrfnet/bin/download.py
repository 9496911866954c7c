"""Download (md5-checked), join and unpack the corpus archives of a URLs file.

    python -m ssrfnet.bin.download [--stage N] [--nj N] <download-dir> <urls-file>

URLs file lines: `<name> <url> <md5> [<unpack-subdir>]` (see ssrfnet.prep.download).
Stages: 0 download + md5, 1 join multi-part archives, 2 unpack.
"""

from __future__ import annotations

import sys

from ssrfnet import cli


def build_parser():
    parser = cli.new_parser("download", __doc__, runtime=False)
    parser.add_argument("--stage", type=int, default=0, help="0 download, 1 join parts, 2 unpack")
    parser.add_argument("--nj", type=int, default=4, help="parallel downloads")
    parser.add_argument("download_dir")
    parser.add_argument("urls_file")
    return parser


def run(args) -> int:
    from ssrfnet.prep.download import download_data

    download_data(args.download_dir, args.urls_file, stage=args.stage, nj=args.nj)
    return 0


main = cli.main_of("download", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
