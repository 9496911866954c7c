"""Write a small randomly initialised WavLM teacher (save_pretrained format) for the mini recipe and tests.

e.g.: python -m ssrfnet.bin.make_random_teacher --out exp/teacher_random --hidden-size 256 --num-layers 4
The directory is then usable as --teacher exp/teacher_random (loaded with local_files_only). Re-running with
the same options is a no-op.
"""

from __future__ import annotations

import sys

from ssrfnet import cli


def build_parser():
    parser = cli.new_parser("make_random_teacher", __doc__, runtime=False)
    add = parser.add_argument
    add("--out", required=True, help="output directory")
    add("--hidden-size", type=int, default=256)
    add("--num-layers", type=int, default=4, help="transformer layers")
    add("--num-heads", type=int, default=4, help="attention heads")
    add("--intermediate-size", type=int, default=1024)
    add("--conv-dim", type=int, default=None, help="CNN front-end channels (default 512)")
    add("--seed", type=int, default=0)
    add("--overwrite", action="store_true", help="replace a different model at --out")
    return parser


def run(args) -> int:
    from ssrfnet.models.teacher import make_random_wavlm

    print(make_random_wavlm(args.out, hidden_size=args.hidden_size, num_layers=args.num_layers,
                            num_heads=args.num_heads, intermediate_size=args.intermediate_size,
                            seed=args.seed, conv_dim=args.conv_dim, overwrite=args.overwrite))
    return 0


main = cli.main_of("make_random_teacher", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
