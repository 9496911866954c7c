"""Same speaker or not: score two recordings and decide, by a calibrated LLR or a cosine threshold.

With the calibration stage 5 stores beside the model (`<model dir>/scores/calibration/<protocol>_qmf.json`,
fitted on calibration trials of held-out training speakers), the score, the durations of both recordings and
the magnitudes of their embeddings become a log-likelihood ratio, and "same speaker" means
llr >= log((1 - p) / p) at the stated target prior p (`--target-prior`, default the prior the calibration
was trained at). Without one (or with `--calibration none`, `--threshold`, `--threshold-file`) the cosine
score is compared with `<model dir>/scores/threshold.json`, the EER point of the development trials
(held-out training-corpus speakers, never a test list).

e.g.: python -m ssrfnet.bin.verify --model exp/ssrfnet/final.pt a.wav b.wav
      python -m ssrfnet.bin.verify --model exp/ssrfnet/final.pt --target-prior 0.01 a.wav b.wav
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
    group.add_argument("--threshold-file", default=None, help="threshold.json from stage 5 (cosine decision)")
    group.add_argument("--threshold", type=float, default=None, help="decision threshold on the cosine score")
    group.add_argument("--calibration", default=None,
                       help="calibration model (JSON from stage 5's scores/calibration/), or none for the "
                            "cosine threshold (default: the one stored with the model, if any)")
    parser.add_argument("--target-prior", type=float, default=None,
                        help="target prior p of the calibrated decision llr >= log((1-p)/p) (default: the "
                             "prior the calibration was trained at)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    cli.add_backend_options(parser)
    parser.add_argument("audio", nargs=2, help="two wav files (or wav.scp values such as pipes)")
    return parser


def calibration_argument(value: str | None):
    if value is None:
        return None
    return False if value.lower() == "none" else value


def describe(result: dict) -> str:
    verdict = "same speaker" if result["same_speaker"] else "different speakers"
    if result["decision"] == "llr":
        return (f"score {result['score']:.4f} llr {result['llr']:.3f} threshold {result['llr_threshold']:.3f}"
                f" (LLR at target prior {result['target_prior']:g}) -> {verdict}")
    return f"score {result['score']:.4f} threshold {result['threshold']:.4f} -> {verdict}"


def run(args) -> int:
    from ssrfnet import api
    from ssrfnet.fileio import strict_json

    threshold = args.threshold if args.threshold is not None else args.threshold_file
    model = api.load_model(args.model, device=args.device, backend=args.backend,
                           quantized=args.quantize == "int8", num_threads=args.num_threads or None,
                           threshold=threshold, protocol=args.eval_protocol, num_crops=args.eval_num_crops,
                           crop_seconds=args.eval_crop_seconds, batch_size=args.eval_batch_size,
                           full_utt=args.eval_full_utt, calibration=calibration_argument(args.calibration))
    a, b = args.audio
    result = {"audio": list(args.audio)}
    if args.target_prior is not None and model.calibration is None:
        raise api.ThresholdError(f"{args.model}: --target-prior needs a calibration model (stage 5 writes "
                                 "exp/<name>/scores/calibration/), and none is in use")
    decides = model.calibration is not None or model.threshold is not None
    if not decides:
        result.update(score=model.similarity(a, b), protocol=model.protocol)
    else:
        decision = model.verify(a, b, target_prior=args.target_prior)
        result.update(score=decision.score, protocol=decision.protocol, threshold=decision.threshold,
                      threshold_source=decision.threshold_source, same_speaker=decision.same_speaker,
                      decision=decision.decision)
        if decision.decision == "llr":
            result.update(llr=decision.llr, llr_threshold=decision.llr_threshold,
                          target_prior=decision.target_prior)
    if args.json:
        print(strict_json(result, indent=2))
    elif not decides:
        print(f"score {result['score']:.4f} ({result['protocol']}); no threshold: give --threshold or "
              "--threshold-file (stage 5 writes exp/<name>/scores/threshold.json)")
    else:
        print(describe(result))
    return 0


main = cli.main_of("verify", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
