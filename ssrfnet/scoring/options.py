"""Options of stages 4-6 (extraction, scoring, export), shared by conf files and the command line."""

from __future__ import annotations

import argparse

from ssrfnet.config import float_list, str2bool
from ssrfnet.scoring.calibration import DEFAULT_PRIOR, KINDS, QMF_FEATURES


def str_list(value: str | list) -> list[str]:
    """'affine,qmf' -> ['affine', 'qmf']; '' -> []."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v for v in str(value).replace(" ", "").split(",") if v]


def add_eval_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    group = parser.add_argument_group("evaluation (stages 4-6)")
    group.add_argument("--eval-num-crops", type=int, default=10,
                       help="crops per utterance for the official protocol (default 10)")
    group.add_argument("--eval-crop-seconds", type=float, default=3.0,
                       help="crop length in seconds; a fixed-length model's own length wins (default 3.0)")
    group.add_argument("--eval-batch-size", type=int, default=40,
                       help="crops per forward pass during extraction (default 40)")
    group.add_argument("--eval-full-utt", type=str2bool, default=True,
                       help="length-agnostic models: embed the whole utterance for xvector.ark "
                            "(fixed-length models always use the mean of the crop embeddings)")
    group.add_argument("--eval-write-crops", type=str2bool, default=True,
                       help="also write per-crop embeddings crops.{ark,scp} (needed by the crops protocol)")
    group.add_argument("--eval-protocol", choices=["crops", "utt"], default="crops",
                       help="main score: crops = mean of the NxN crop cosines (official), "
                            "utt = cosine of utterance embeddings")
    group.add_argument("--eval-subtract-mean", type=str2bool, default=False,
                       help="subtract the mean cohort (training) embedding before cosine scoring "
                            "(official: false)")
    group.add_argument("--asnorm-top-n", type=int, default=300,
                       help="adaptive S-norm: cohort size per side (default 300)")
    group.add_argument("--p-targets", type=float_list, default=[0.01, 0.05],
                       help="minDCF target priors, comma-separated (default 0.01,0.05)")
    group.add_argument("--calibration-kinds", type=str_list, default=list(KINDS),
                       help="score calibrations fitted when calibration trials are given: affine (the "
                            "score alone) and/or qmf (score, durations, embedding magnitudes); default "
                            "affine,qmf")
    group.add_argument("--calibration-prior", type=float, default=DEFAULT_PRIOR,
                       help="target prior the calibration is trained at, and the stated prior of the "
                            f"verify LLR threshold log((1-p)/p) (default {DEFAULT_PRIOR})")
    group.add_argument("--qmf-features", type=str_list, default=list(QMF_FEATURES),
                       help="QMF features, comma-separated: score, log_dur_{min,max,enroll,test}, "
                            "mag_{min,max,enroll,test} and products such as score*log_dur_min "
                            f"(default {','.join(QMF_FEATURES)})")
    group.add_argument("--export-tolerance", type=float, default=1e-4,
                       help="max abs difference allowed between exported and PyTorch embeddings")
    group.add_argument("--export-quantize", choices=["none", "int8"], default="int8",
                       help="stage 6 also writes model.int8.onnx (dynamic int8 quantization of the matrix "
                            "products) and measures its cost (default int8; none: fp32 only)")
    group.add_argument("--export-timing-runs", type=int, default=5,
                       help="timed runs per backend and batch size in the export report (median reported)")
    return parser
