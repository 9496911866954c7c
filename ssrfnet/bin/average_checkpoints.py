"""Average the model weights of training checkpoints into a model file (what training does for final.pt).

    python -m ssrfnet.bin.average_checkpoints [--num N | --steps 8000,10000] <exp-dir> [<out.pt>]
    python -m ssrfnet.bin.average_checkpoints --checkpoints a.pt b.pt ... <out.pt>

By default the last --num checkpoints of <exp-dir>/checkpoints are averaged into <exp-dir>/final.pt; the step
range goes to <out>.json. Float tensors are averaged in float64, integer buffers come from the last one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ssrfnet.config import int_list


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssrfnet.bin.average_checkpoints",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=5, help="average the last N checkpoints")
    parser.add_argument("--steps", type=int_list, default=None, help="average exactly these steps")
    parser.add_argument("--checkpoints", nargs="+", default=None, help="explicit checkpoint files")
    parser.add_argument("paths", nargs="+", help="<exp-dir> [<out.pt>], or <out.pt> with --checkpoints")
    args = parser.parse_args(argv)

    from ssrfnet.train.checkpoint import (
        CheckpointError,
        average_checkpoints,
        checkpoint_name,
        list_checkpoints,
    )

    if args.checkpoints:
        if len(args.paths) != 1:
            parser.error("with --checkpoints give exactly one output path")
        chosen, out = [Path(p) for p in args.checkpoints], Path(args.paths[0])
    else:
        exp = Path(args.paths[0])
        out = Path(args.paths[1]) if len(args.paths) > 1 else exp / "final.pt"
        available = list_checkpoints(exp / "checkpoints")
        if args.steps:
            chosen = [exp / "checkpoints" / checkpoint_name(s) for s in args.steps]
            missing = [str(p) for p in chosen if not p.is_file()]
            if missing:
                print(f"ERROR: no such checkpoint(s): {' '.join(missing)}", file=sys.stderr)
                return 1
        else:
            chosen = available[-args.num:]
    try:
        info = average_checkpoints(chosen, out)
    except CheckpointError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    print(f"{out}: average of {len(chosen)} checkpoint(s), steps {info['steps']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
