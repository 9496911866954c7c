"""Stage 6: export a model to TorchScript and ONNX, check parity against PyTorch, time onnxruntime.

e.g.: python -m ssrfnet.bin.export --model exp/ssrfnet/final.pt --out-dir exp/ssrfnet/export
      python -m ssrfnet.bin.export --model exp/ssrfnet/final.pt --data data/vox1   # real input for parity

Writes <out>/model.pt (TorchScript), <out>/model.onnx, <out>/export.json, and regenerates the
"Results" (from results.json, stage 5) and "Export" sections of <exp>/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ssrfnet.config import ConfError, parse_args
from ssrfnet.scoring.options import add_eval_options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model file (our format or an official checkpoint)")
    parser.add_argument("--exp-dir", default=None, help="experiment dir for README.md (default: model's dir)")
    parser.add_argument("--out-dir", default=None, help="output dir (default <exp-dir>/export)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per batch size (median reported)")
    parser.add_argument("--wav", default=None, help="real audio (path or wav.scp pipe) for the parity check")
    parser.add_argument("--data", default=None, help="data dir: its first wav.scp entry is the real audio")
    parser.add_argument("--num-threads", type=int, default=0, help="torch/onnxruntime threads (0: default)")
    add_eval_options(parser)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parse_args(parser, argv)
    except ConfError as err:
        print(f"export: error: {err}", file=sys.stderr)
        return 1
    if args.opset < 17:
        parser.error("--opset must be >= 17")
    import torch

    from ssrfnet.audio import AudioError, read_audio
    from ssrfnet.export import ExportError, export_markdown, export_model
    from ssrfnet.kaldi.table import read_table
    from ssrfnet.models import load_model
    from ssrfnet.scoring.report import results_markdown, update_readme

    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    exp_dir = Path(args.exp_dir) if args.exp_dir else Path(args.model).parent
    out_dir = Path(args.out_dir) if args.out_dir else exp_dir / "export"
    try:
        real = None
        if args.data and not args.wav:
            key, entry = read_table(Path(args.data) / "wav.scp")[0]
            real = read_audio(entry, where=f"{args.data}/wav.scp:{key}")
        elif args.wav:
            real = read_audio(args.wav, where=args.wav)
        model = load_model(args.model)
        report = export_model(model, out_dir, opset=args.opset, tolerance=args.export_tolerance,
                              real_audio=real, runs=args.runs)
    except (ExportError, AudioError, OSError, ValueError) as err:
        print(f"export: error: {err}", file=sys.stderr)
        return 1
    report["model"] = args.model
    results = exp_dir / "results.json"
    if results.is_file():
        update_readme(exp_dir / "README.md", "results", "Results",
                      results_markdown(json.loads(results.read_text(encoding="utf-8"))))
    update_readme(exp_dir / "README.md", "export", "Export", export_markdown(report))
    print(f"export: wrote {out_dir}/model.pt, {out_dir}/model.onnx; report in {exp_dir}/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
