"""Parameters and MACs of a model built from a conf, per part, for a fixed-length input.

e.g.: python -m ssrfnet.bin.model_info --conf conf/ssrfnet.conf [--frames-sec 3.0] [--json]

MACs are counted with torch.utils.flop_counter.FlopCounterMode (matrix products and convolutions; MACs =
FLOPs / 2) on one eval-mode forward pass of a batch of one waveform. Element-wise operations, norms and the
STFT are not counted, as in thop-style MAC figures. `model_summary(model, seconds)` returns the same figures
as a dict for results tables.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
from torch import nn

SAMPLE_RATE = 16000

# Readable names for the parts of the models built by ssrfnet.models.build_model (by attribute path).
# A path not listed here is shown by its attribute name.
LABELS = {
    "student": "SV-Mixer (student)",
    "backend": "ReDimNet backend",
}


def _label(path: str) -> str:
    if path in LABELS:
        return LABELS[path]
    return path.rsplit(".", 1)[-1]


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _own_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def count_macs(model: nn.Module, seconds: float = 3.0) -> tuple[int, dict[str, int]]:
    """(total MACs, MACs per module path) of one eval forward on a (1, seconds * 16 kHz) input."""
    from torch.utils.flop_counter import FlopCounterMode

    num_samples = int(round(seconds * SAMPLE_RATE))
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    generator = torch.Generator().manual_seed(0)
    wav = (0.1 * torch.randn(1, num_samples, generator=generator)).to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(wav)
    finally:
        model.train(was_training)
    total = counter.get_total_flops() // 2
    per_module: dict[str, int] = {}
    root = type(model).__name__
    for name, ops in counter.get_flop_counts().items():
        if name == "Global":
            continue
        path = "" if name == root else name[len(root) + 1 :] if name.startswith(root + ".") else name
        per_module[path] = sum(ops.values()) // 2
    return total, per_module


def _macs_of(module: nn.Module, path: str, macs: dict[str, int]) -> int:
    """MACs recorded for a module, or the sum over its children for containers never called themselves."""
    if path in macs:
        return macs[path]
    return sum(
        _macs_of(child, f"{path}.{name}" if path else name, macs) for name, child in module.named_children()
    )


def _rows(model: nn.Module, macs: dict[str, int], max_depth: int = 2) -> list[dict]:
    """Table rows: top-level parts, their children, and the items of module lists (per block / stage)."""
    rows: list[dict] = []

    def visit(module: nn.Module, prefix: str, depth: int):
        own = _own_params(module)
        if own and depth > 0:
            rows.append(
                dict(
                    path=f"{prefix}.(own)" if prefix else "(own)",
                    label="own parameters",
                    depth=depth,
                    params=own,
                    macs=0,
                )
            )
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            rows.append(
                dict(
                    path=path,
                    label=_label(path),
                    depth=depth,
                    params=count_params(child),
                    macs=_macs_of(child, path, macs),
                )
            )
            is_list = isinstance(child, nn.ModuleList) and len(child) > 1
            if depth + 1 < max_depth or (is_list and depth < max_depth + 1):
                visit(child, path, depth + 1)

    visit(model, "", 0)
    # drop parameter-free, MAC-free rows (activations, dropouts, feature buffers)
    return [r for r in rows if r["params"] or r["macs"]]


def _find_blocks(model: nn.Module) -> nn.ModuleList | None:
    """The SV-Mixer block list if the model has one (`blocks` under the student or at the top)."""
    for path in ("student.blocks", "blocks", "student.encoder.blocks", "encoder.blocks"):
        module = model
        for part in path.split("."):
            module = getattr(module, part, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList) and len(module):
            return module
    return None


def model_summary(model: nn.Module, seconds: float = 3.0) -> dict:
    """Parameters and MACs of `model`, in total and per part, for a `seconds`-long input.

    Keys: seconds, num_samples, params, macs, gmacs, params_m, parts (rows: path, label, depth, params,
    macs), and where present student_params / backend_params (+ _macs), num_blocks, block_params,
    block_macs (first block).
    """
    total_macs, per_module = count_macs(model, seconds)
    params = count_params(model)
    summary = {
        "model": type(model).__name__,
        "seconds": float(seconds),
        "num_samples": int(round(seconds * SAMPLE_RATE)),
        "params": params,
        "params_m": round(params / 1e6, 3),
        "macs": int(total_macs),
        "gmacs": round(total_macs / 1e9, 3),
    }
    for part in ("student", "backend"):
        module = getattr(model, part, None)
        if isinstance(module, nn.Module):
            summary[f"{part}_params"] = count_params(module)
            summary[f"{part}_macs"] = _macs_of(module, part, per_module)
    blocks = _find_blocks(model)
    if blocks is not None:
        prefix = next(name for name, m in model.named_modules() if m is blocks)
        summary["num_blocks"] = len(blocks)
        summary["block_params"] = count_params(blocks[0])
        summary["block_macs"] = _macs_of(blocks[0], f"{prefix}.0", per_module)
    summary["parts"] = _rows(model, per_module)
    return summary


def format_summary(summary: dict) -> str:
    width = max([len("  " * r["depth"] + r["label"]) for r in summary["parts"]] + [20])
    lines = [
        f"# {summary['model']}: {summary['seconds']:g} s input ({summary['num_samples']} samples)",
        f"{'part':<{width}}  {'params':>12}  {'GMACs':>8}",
        "-" * (width + 24),
    ]
    for row in summary["parts"]:
        name = "  " * row["depth"] + row["label"]
        macs = f"{row['macs'] / 1e9:8.3f}" if row["macs"] else f"{'-':>8}"
        lines.append(f"{name:<{width}}  {row['params']:>12,}  {macs}")
    lines.append("-" * (width + 24))
    lines.append(f"{'total':<{width}}  {summary['params']:>12,}  {summary['macs'] / 1e9:8.3f}")
    if "block_params" in summary:
        lines.append(
            f"one block: {summary['block_params']:,} params, {summary['block_macs'] / 1e9:.3f} GMACs "
            f"({summary['num_blocks']} blocks)"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    from ssrfnet.config import ConfError, config_dict, parse_args
    from ssrfnet.models import build_model
    from ssrfnet.models.options import add_model_options

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conf", action="append", default=[], help="Kaldi-style option file(s)")
    parser.add_argument("--frames-sec", type=float, default=3.0, help="input length in seconds for MACs")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_model_options(parser)
    try:
        args = parse_args(parser, argv)
        cfg = config_dict(args, "ssrfnet.models.options:add_model_options")
        torch.manual_seed(0)
        model = build_model(cfg)
    except (ConfError, ValueError) as err:
        print(f"model_info: error: {err}", file=sys.stderr)
        return 1
    summary = model_summary(model, args.frames_sec)
    summary["config"] = cfg
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
