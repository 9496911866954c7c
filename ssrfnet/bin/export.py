"""Stage 6: export a model to TorchScript and ONNX, check parity against PyTorch, time onnxruntime.

e.g.: python -m ssrfnet.bin.export --model exp/ssrfnet/final.pt --out-dir exp/ssrfnet/export
      python -m ssrfnet.bin.export --model exp/ssrfnet/final.pt --data data/vox1   # real input for parity

Writes <out>/model.pt (TorchScript), <out>/model.onnx, <out>/export.json, and regenerates the
"Results" (from results.json, stage 5) and "Export" sections of <exp>/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ssrfnet import cli
from ssrfnet.errors import ConfError
from ssrfnet.scoring.options import add_eval_options


def build_parser():
    parser = cli.new_parser("export", __doc__, add_eval_options, device="cpu")
    cli.add_model_argument(parser)
    parser.add_argument("--exp-dir", default=None, help="experiment dir for README.md (default: model's dir)")
    parser.add_argument("--out-dir", default=None, help="output dir (default <exp-dir>/export)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    parser.add_argument("--wav", default=None, help="real audio (path or wav.scp pipe) for the parity check")
    parser.add_argument("--data", default=None, help="data dir: its first wav.scp entry is the real audio")
    parser.add_argument("--int8-eval", nargs="*", default=[], metavar="DATA:TRIALS[,TRIALS]",
                        help="with --export-quantize int8: measure its EER change and cosine to fp32 on "
                             "these lists")
    return parser


def run(args) -> int:
    from ssrfnet.export.cost import parse_eval_sets
    from ssrfnet.export.experiment import export_experiment, parity_audio
    from ssrfnet.models import model_source_dir

    if args.opset < 17:
        raise ConfError("--opset must be >= 17")
    exp_dir = Path(args.exp_dir) if args.exp_dir else model_source_dir(args.model)
    out_dir = Path(args.out_dir) if args.out_dir else exp_dir / "export"
    quantize = None if args.export_quantize == "none" else args.export_quantize
    int8_eval = parse_eval_sets(args.int8_eval) if quantize else []
    export_experiment(args.model, exp_dir, out_dir, real_audio=parity_audio(args.data, args.wav),
                      quantize=quantize, int8_eval=int8_eval, eval_options=vars(args), opset=args.opset,
                      tolerance=args.export_tolerance, runs=args.export_timing_runs)
    written = "model.pt, model.onnx" + (", model.int8.onnx" if quantize else "")
    print(f"export: wrote {written} in {out_dir}; report in {exp_dir}/README.md")
    return 0


main = cli.main_of("export", build_parser, run, memory=True)

if __name__ == "__main__":
    sys.exit(main())
