"""Same speaker or not: score two recordings and compare with a calibrated threshold.

The score uses the protocol of the threshold file (default: the official mean of the 10 x 10 crop
cosines). The threshold defaults to `<model dir>/scores/threshold.json`, written by stage 5 as the EER
point of the development trials (held-out training-corpus speakers, never a test list).

e.g.: python -m ssrfnet.bin.verify --model exp/ssrfnet/final.pt a.wav b.wav
      python -m ssrfnet.bin.verify --model exp/ssrfnet/final.pt --threshold 0.35 a.wav b.wav
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ssrfnet.config import ConfError, parse_args
from ssrfnet.scoring.options import add_eval_options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model file (our format or an official checkpoint)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--threshold-file", default=None, help="threshold.json from stage 5")
    group.add_argument("--threshold", type=float, default=None, help="decision threshold on the score")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.add_argument("audio", nargs=2, help="two wav files (or wav.scp values such as pipes)")
    parser.add_argument("--num-threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    add_eval_options(parser)
    return parser


def load_threshold(args) -> dict | None:
    if args.threshold is not None:
        return {"threshold": args.threshold, "source": "--threshold"}
    default = Path(args.model).parent / "scores" / "threshold.json"
    path = Path(args.threshold_file) if args.threshold_file else default
    if not path.is_file():
        if args.threshold_file:
            raise FileNotFoundError(f"{path}: threshold file not found")
        return None
    info = json.loads(path.read_text(encoding="utf-8"))
    if "threshold" not in info:
        raise ValueError(f"{path}: no 'threshold' key")
    info["source"] = str(path)
    return info


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parse_args(parser, argv)
    except ConfError as err:
        print(f"verify: error: {err}", file=sys.stderr)
        return 1
    from ssrfnet.audio import AudioError, read_audio
    from ssrfnet.extract import EmbeddingExtractor
    from ssrfnet.models import load_model

    if args.num_threads > 0:
        import torch

        torch.set_num_threads(args.num_threads)
    from ssrfnet.scoring.cosine import Embeddings, scoring_vectors

    try:
        threshold = load_threshold(args)
        protocol = (threshold or {}).get("protocol") or args.eval_protocol
        mean = None
        if threshold and threshold.get("mean_vec"):
            mean = np.load(threshold["mean_vec"])
        extractor = EmbeddingExtractor(
            load_model(args.model), num_crops=args.eval_num_crops, crop_seconds=args.eval_crop_seconds,
            batch_size=args.eval_batch_size, full_utt=args.eval_full_utt, device=args.device,
        )
        wavs = [(f"audio{i}", read_audio(a, where=a)) for i, a in enumerate(args.audio)]
        out = list(extractor.extract(wavs))
    except (AudioError, OSError, ValueError) as err:
        print(f"verify: error: {err}", file=sys.stderr)
        return 1
    keys, vecs, crops = zip(*out)
    emb = Embeddings(list(keys), np.stack(vecs), np.stack(crops))
    vec = scoring_vectors(emb, protocol, mean)
    score = float(vec[0] @ vec[1])
    result = {"score": score, "protocol": protocol, "audio": args.audio}
    if threshold is not None:
        result.update(threshold=float(threshold["threshold"]), threshold_source=threshold["source"],
                      same_speaker=bool(score >= float(threshold["threshold"])))
    if args.json:
        print(json.dumps(result, indent=2))
    elif threshold is None:
        print(f"score {score:.4f} ({protocol}); no threshold: give --threshold or --threshold-file "
              "(stage 5 writes exp/<name>/scores/threshold.json)")
    else:
        verdict = "same speaker" if result["same_speaker"] else "different speakers"
        print(f"score {score:.4f} threshold {result['threshold']:.4f} -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
