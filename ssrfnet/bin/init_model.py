"""Write the model file of an untrained model: the no-training sanity baseline of stages 4-5, or a network
with its initial weights (e.g. to measure what training adds).

e.g.: python -m ssrfnet.bin.init_model --model-type=mfcc_stats --out exp/mfcc_stats/final.pt
      python -m ssrfnet.bin.init_model --conf conf/redimnet_b2_mini.conf --seed 1 --out exp/random/final.pt
The file is the project's model format (`ssrfnet.models.load_model` reads it), written atomically.
"""

from __future__ import annotations

import sys

from ssrfnet import cli
from ssrfnet.models.options import add_model_options


def build_parser():
    parser = cli.new_parser("init_model", __doc__, add_model_options, runtime=False)
    parser.add_argument("--out", required=True, help="model file to write, e.g. exp/mfcc_stats/final.pt")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    return parser


def run(args) -> int:
    from pathlib import Path

    from ssrfnet.config import chosen_options, config_dict, option_sources
    from ssrfnet.models.checkpoint import save_initial_model
    from ssrfnet.models.options import check_model_keys

    for dest, source in chosen_options(option_sources(args)).items():
        check_model_keys(args.model_type, [dest], where=str(source))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    model = save_initial_model(config_dict(args, add_model_options), args.out, seed=args.seed)
    params = sum(p.numel() for p in model.parameters())
    print(f"init_model: untrained --model-type={args.model_type} ({params:,} parameters, embedding size "
          f"{model.embed_dim}) -> {args.out}")
    return 0


main = cli.main_of("init_model", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
