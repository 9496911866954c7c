"""Lay out a VoxCeleb-sized corpus tree (real layout, real list sizes) from hard links to a few real files.

e.g.: python -m ssrfnet.bin.make_scale_corpus --scale 0.01 /scratch/scale_corpus
      python -m ssrfnet.bin.make_scale_corpus --vox2-format wav /scratch/scale_corpus    # the real sizes
See ssrfnet/corpus/scale.py for the layout and the counts.
"""

from __future__ import annotations

import json
import sys

from ssrfnet import cli
from ssrfnet.corpus.scale import DEFAULT_SOURCE_SECONDS, make_scale_corpus
from ssrfnet.errors import ConfError


def build_parser():
    parser = cli.new_parser("make_scale_corpus", __doc__, runtime=False)
    parser.add_argument("out", help="output directory (gets voxceleb1/ voxceleb2/ .sources/ and a manifest)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the real sizes (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="every random choice derives from it")
    parser.add_argument("--vox2-format", choices=("m4a", "wav"), default="m4a",
                        help="VoxCeleb2 file format (m4a like the real corpus; wav needs no ffmpeg later)")
    parser.add_argument("--sources", default=None,
                        help="directory whose first .wav files (16 kHz) are linked to (default: synthesised)")
    parser.add_argument("--source-seconds", default=",".join(map(str, DEFAULT_SOURCE_SECONDS)),
                        help="lengths of the synthesised source files, comma-separated")
    return parser


def run(args) -> int:
    try:
        seconds = tuple(float(x) for x in args.source_seconds.split(","))
    except ValueError:
        raise ConfError(f"--source-seconds: expected numbers, got {args.source_seconds!r}") from None
    manifest = make_scale_corpus(args.out, scale=args.scale, seed=args.seed, vox2_format=args.vox2_format,
                                 sources=args.sources, source_seconds=seconds,
                                 log=lambda message: print(message, file=sys.stderr, flush=True))
    print(json.dumps(manifest["counts"], indent=1))
    return 0


main = cli.main_of("make_scale_corpus", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
