"""Write a small randomly initialised WavLM teacher (save_pretrained format) for the mini recipe and tests.

e.g.: python -m ssrfnet.bin.make_random_teacher --out exp/teacher_random --hidden-size 256 --num-layers 4
The directory is then usable as --teacher exp/teacher_random (loaded with local_files_only). Re-running with
the same options is a no-op.
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=4, help="transformer layers")
    parser.add_argument("--num-heads", type=int, default=4, help="attention heads")
    parser.add_argument("--intermediate-size", type=int, default=1024)
    parser.add_argument("--conv-dim", type=int, default=None, help="CNN front-end channels (default 512)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace a different model at --out")
    args = parser.parse_args(argv)

    from ssrfnet.models.teacher import make_random_wavlm

    try:
        out = make_random_wavlm(
            args.out,
            hidden_size=args.hidden_size,
            num_layers=args.num_layers,
            num_heads=args.num_heads,
            intermediate_size=args.intermediate_size,
            seed=args.seed,
            conv_dim=args.conv_dim,
            overwrite=args.overwrite,
        )
    except (FileExistsError, ValueError) as err:
        print(f"make_random_teacher: error: {err}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
