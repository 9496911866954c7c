"""Parameters and MACs of a model built from a conf, per part, for a fixed-length input.

e.g.: python -m ssrfnet.bin.model_info --conf conf/ssrfnet.conf [--frames-sec 3.0] [--json]

MACs = FLOPs / 2 of matrix products and convolutions on one eval-mode forward pass of a batch of one
(`ssrfnet.models.summary`).
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from ssrfnet.models.summary import format_summary, model_summary


def main(argv=None) -> int:
    from ssrfnet.config import ConfError, config_dict, parse_args
    from ssrfnet.models import build_model
    from ssrfnet.models.options import add_model_options

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conf", action="append", default=[], help="Kaldi-style option file(s)")
    parser.add_argument("--frames-sec", type=float, default=3.0, help="input length in seconds for MACs")
    parser.add_argument("--no-macs", action="store_true", help="parameters only (no forward pass)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_model_options(parser)
    try:
        args = parse_args(parser, argv)
        cfg = config_dict(args, "ssrfnet.models.options:add_model_options")
        torch.manual_seed(0)
        model = build_model(cfg)
        summary = model_summary(model, args.frames_sec, macs=not args.no_macs)
    except (ConfError, ValueError) as err:
        print(f"model_info: error: {err}", file=sys.stderr)
        return 1
    summary["config"] = cfg
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
