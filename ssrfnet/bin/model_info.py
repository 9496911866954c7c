"""Parameters and MACs of a model built from a conf, per part, for a fixed-length input.

e.g.: python -m ssrfnet.bin.model_info --conf conf/ssrfnet.conf [--frames-sec 3.0] [--json]

MACs = FLOPs / 2 of matrix products and convolutions on one eval-mode forward pass of a batch of one
(`ssrfnet.models.summary`).
"""

from __future__ import annotations

import sys

from ssrfnet import cli
from ssrfnet.models.options import add_model_options


def build_parser():
    parser = cli.new_parser("model_info", __doc__, add_model_options, runtime=False)
    parser.add_argument("--frames-sec", type=float, default=3.0, help="input length in seconds for MACs")
    parser.add_argument("--no-macs", action="store_true", help="parameters only (no forward pass)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser


def run(args) -> int:
    import torch

    from ssrfnet.config import config_dict
    from ssrfnet.fileio import strict_json
    from ssrfnet.models import build_model
    from ssrfnet.models.summary import format_summary, model_summary

    cfg = config_dict(args, add_model_options)
    torch.manual_seed(0)
    summary = model_summary(build_model(cfg), args.frames_sec, macs=not args.no_macs)
    summary["config"] = cfg
    print(strict_json(summary, indent=2, default=str) if args.json else format_summary(summary))
    return 0


main = cli.main_of("model_info", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
