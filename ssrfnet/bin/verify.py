"""Same speaker or not: score two recordings and compare with a calibrated threshold.

The score uses the protocol of the threshold file (default: the official mean of the 10 x 10 crop
cosines). The threshold defaults to `<model dir>/scores/threshold.json`, written by stage 5 as the EER
point of the development trials (held-out training-corpus speakers, never a test list).

e.g.: python -m ssrfnet.bin.verify --model exp/ssrfnet/final.pt a.wav b.wav
      python -m ssrfnet.bin.verify --model exp/ssrfnet/final.pt --threshold 0.35 a.wav b.wav
"""

from __future__ import annotations

import sys

from ssrfnet import cli
from ssrfnet.scoring.options import add_eval_options


def build_parser():
    parser = cli.new_parser("verify", __doc__, add_eval_options, device="cpu")
    cli.add_model_argument(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--threshold-file", default=None, help="threshold.json from stage 5")
    group.add_argument("--threshold", type=float, default=None, help="decision threshold on the score")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    cli.add_backend_options(parser)
    parser.add_argument("audio", nargs=2, help="two wav files (or wav.scp values such as pipes)")
    return parser


def run(args) -> int:
    from ssrfnet import api
    from ssrfnet.fileio import strict_json

    threshold = args.threshold if args.threshold is not None else args.threshold_file
    model = api.load_model(args.model, device=args.device, backend=args.backend,
                           quantized=args.quantize == "int8", num_threads=args.num_threads or None,
                           threshold=threshold, protocol=args.eval_protocol, num_crops=args.eval_num_crops,
                           crop_seconds=args.eval_crop_seconds, batch_size=args.eval_batch_size,
                           full_utt=args.eval_full_utt)
    a, b = args.audio
    result = {"audio": list(args.audio)}
    if model.threshold is None:
        result.update(score=model.similarity(a, b), protocol=model.protocol)
    else:
        decision = model.verify(a, b)
        result.update(score=decision.score, protocol=decision.protocol, threshold=decision.threshold,
                      threshold_source=decision.threshold_source, same_speaker=decision.same_speaker)
    if args.json:
        print(strict_json(result, indent=2))
    elif model.threshold is None:
        print(f"score {result['score']:.4f} ({result['protocol']}); no threshold: give --threshold or "
              "--threshold-file (stage 5 writes exp/<name>/scores/threshold.json)")
    else:
        verdict = "same speaker" if result["same_speaker"] else "different speakers"
        print(f"score {result['score']:.4f} threshold {result['threshold']:.4f} -> {verdict}")
    return 0


main = cli.main_of("verify", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
