"""Average the model weights of training checkpoints into a model file (what training does for final.pt).

e.g.: python -m ssrfnet.bin.average_checkpoints [--num N | --steps 8000,10000] <exp-dir> [<out.pt>]
      python -m ssrfnet.bin.average_checkpoints <out.pt> --checkpoints a.pt b.pt ...

By default the last --num checkpoints of <exp-dir>/checkpoints are averaged into <exp-dir>/final.pt; the step
range goes to <out>.json. Float tensors are averaged in float64, integer buffers come from the last one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ssrfnet import cli
from ssrfnet.config import int_list
from ssrfnet.errors import ConfError


def build_parser():
    parser = cli.new_parser("average_checkpoints", __doc__, runtime=False)
    parser.add_argument("--num", type=int, default=5, help="average the last N checkpoints")
    parser.add_argument("--steps", type=int_list, default=None, help="average exactly these steps")
    parser.add_argument("--checkpoints", nargs="+", default=None, help="explicit checkpoint files")
    parser.add_argument("paths", nargs="+", help="<exp-dir> [<out.pt>], or <out.pt> with --checkpoints")
    return parser


def chosen_checkpoints(args) -> tuple[list[Path], Path]:
    from ssrfnet.train.checkpoint import checkpoint_name, select_for_average

    if args.checkpoints:
        if len(args.paths) != 1:
            raise ConfError("with --checkpoints give exactly one output path")
        return [Path(p) for p in args.checkpoints], Path(args.paths[0])
    exp = Path(args.paths[0])
    out = Path(args.paths[1]) if len(args.paths) > 1 else exp / "final.pt"
    if not args.steps:
        chosen, skipped = select_for_average(exp / "checkpoints", args.num)
        for path, why in skipped:
            print(f"average_checkpoints: WARNING: {path} left out, unreadable ({why})", file=sys.stderr)
        if not chosen:
            raise ConfError(f"{exp / 'checkpoints'}: no readable checkpoint to average")
        return chosen, out
    chosen = [exp / "checkpoints" / checkpoint_name(s) for s in args.steps]
    missing = [str(p) for p in chosen if not p.is_file()]
    if missing:
        raise ConfError(f"--steps: no such checkpoint(s): {' '.join(missing)}")
    return chosen, out


def run(args) -> int:
    from ssrfnet.train.checkpoint import average_checkpoints

    chosen, out = chosen_checkpoints(args)
    info = average_checkpoints(chosen, out)
    print(f"{out}: average of {len(chosen)} checkpoint(s), steps {info['steps']}")
    return 0


main = cli.main_of("average_checkpoints", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
