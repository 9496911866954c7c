"""Download (md5-checked), join and unpack the corpus archives of a URLs file.

    python -m ssrfnet.bin.download [--stage N] [--nj N] <download-dir> <urls-file>

URLs file lines: `<name> <url> <md5> [<unpack-subdir>]` (see ssrfnet.prep.download).
Stages: 0 download + md5, 1 join multi-part archives, 2 unpack.
"""

from __future__ import annotations

import argparse
import sys

from ssrfnet.prep.common import PrepError
from ssrfnet.prep.download import download_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stage", type=int, default=0, help="0 download, 1 join parts, 2 unpack")
    parser.add_argument("--nj", type=int, default=4, help="parallel downloads")
    parser.add_argument("download_dir")
    parser.add_argument("urls_file")
    args = parser.parse_args(argv)
    try:
        download_data(args.download_dir, args.urls_file, stage=args.stage, nj=args.nj)
    except PrepError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
