"""Parameters and MACs of a model, per part, for a fixed-length input.

MACs are counted with torch.utils.flop_counter.FlopCounterMode (matrix products and convolutions; MACs =
FLOPs / 2) on one eval-mode forward pass of a batch of one waveform. Element-wise operations, norms and the
STFT are not counted, as in thop-style MAC figures. `model_summary(model, seconds)` returns the figures as a
dict (results tables, `python -m ssrfnet.bin.model_info`), `format_summary` as a readable table.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ssrfnet.audio import SAMPLE_RATE
from ssrfnet.errors import InputError
from ssrfnet.models.fast import use_plain_ops, uses_fast_kernels

# Readable names for the parts of the models that ssrfnet.models.build_model builds, by attribute path with
# list indices written as '*' ({i} is the index, {n} = index + 1). Other paths show their attribute name.
LABELS = {
    "student": "SV-Mixer",
    "student.conv_layers": "CNN front end",
    "student.feat_projection": "projection",
    "student.layers": "blocks",
    "student.layers.*": "block {n}",
    "student.layer_norm": "final LayerNorm",
    "layer_weights": "layer weights",
    "backend": "ReDimNet backend",
    "backend.frontend": "log-mel",
    "backend.stem": "spectrogram stem",
    "backend.pfm": "PFM",
    "backend.pfm.mix": "mixing weights",
    "backend.pfm.proj": "projections",
    "backend.body": "stages",
    "backend.body.stages.*": "stage {i}",
    "backend.body.final_mix": "final mixing weights",
    "backend.head": "head (ASTP + BN + Linear)",
    "frontend": "log-mel",
    "stem": "stem",
    "body": "stages",
    "body.stages.*": "stage {i}",
    "body.final_mix": "final mixing weights",
    "head": "head",
    # ECAPA-TDNN back end (svmixer_ecapa, transformer_ecapa) and the Transformer student
    "backend.conv_in": "input conv (k5)",
    "backend.bn_in": "input BN",
    "backend.blocks": "Res2Net blocks",
    "backend.blocks.*": "block {n}",
    "backend.merge": "concatenation conv",
    "backend.pool": "attentive statistics pooling",
    "backend.pool_bn": "pooling BN",
    "backend.linear": "embedding linear",
    "backend.embed_bn": "embedding BN",
    "student.wavlm.feature_extractor": "CNN front end",
    "student.wavlm.feature_projection": "projection",
    "student.wavlm.encoder.pos_conv_embed": "position conv",
    "student.wavlm.encoder.layer_norm": "final LayerNorm",
    "student.wavlm.encoder.layers": "layers",
    "student.wavlm.encoder.layers.*": "layer {n}",
}
# Labels by module class, for paths that several model types share ('student', 'backend').
CLASS_LABELS = {"ECAPABackend": "ECAPA-TDNN back end", "TransformerStudent": "Transformer student"}
# Parts whose children get their own rows, and containers shown only through their children.
EXPAND = {
    "student",
    "student.layers",
    "backend",
    "backend.pfm",
    "backend.body",
    "backend.body.stages",
    "body",
    "body.stages",
    "student.wavlm.encoder.layers",
}
HIDDEN = {"backend.body.stages", "body.stages", "student.wavlm", "student.wavlm.encoder"}


def _label(path: str, module: nn.Module | None = None) -> str:
    parts = path.split(".")
    key = ".".join("*" if p.isdigit() else p for p in parts)
    index = next((p for p in reversed(parts) if p.isdigit()), "")
    label = CLASS_LABELS.get(type(module).__name__) or LABELS.get(key, parts[-1])
    label = label.format(i=index, n=int(index) + 1 if index else "")
    if isinstance(module, nn.ModuleList):
        label += f" ({len(module)})"
    return label


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _own_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def count_macs(model: nn.Module, seconds: float = 3.0) -> tuple[int, dict[str, int]]:
    """(total MACs, MACs per module path) of one eval forward on a (1, seconds * 16 kHz) input.

    Counted on a copy with the plain ops (`ssrfnet.models.fast.use_plain_ops`): the fast kernels compute
    the same maths with other primitives (e.g. the linear upsampling as a matrix product), which a FLOP
    counter would see as extra work.
    """
    if uses_fast_kernels(model):
        model = use_plain_ops(copy.deepcopy(model))
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
    except (RuntimeError, InputError) as err:
        crop = getattr(model, "crop_samples", None)
        if crop and crop != num_samples:
            raise InputError(
                f"{type(model).__name__} takes {crop}-sample inputs ({crop / SAMPLE_RATE:g} s), "
                f"not {num_samples}: {err}"
            ) from err
        raise
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


def _rows(model: nn.Module, macs: dict[str, int] | None) -> list[dict]:
    """Table rows: the model's parts, with children listed for the paths in EXPAND (all parts' children for
    a model this table does not know)."""
    rows: list[dict] = []
    known = any(name in EXPAND for name, _ in model.named_children())

    def add(path: str, label: str, depth: int, params: int, module: nn.Module | None):
        row = dict(path=path, label=label, depth=depth, params=params)
        if macs is not None:
            row["macs"] = 0 if module is None else _macs_of(module, path, macs)
        rows.append(row)

    def visit(module: nn.Module, prefix: str, depth: int):
        own = _own_params(module)
        if own:
            names = ", ".join(name for name, _ in module.named_parameters(recurse=False))
            add(f"{prefix}.(own)" if prefix else "(own)", f"own parameters ({names})", depth, own, None)
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if path in HIDDEN:
                visit(child, path, depth)
                continue
            add(path, _label(path, child), depth, count_params(child), child)
            if path in EXPAND or (not known and depth == 0):
                visit(child, path, depth + 1)

    visit(model, "", 0)
    # drop rows without parameters or MACs (activations, dropouts, feature buffers)
    return [r for r in rows if r["params"] or r.get("macs")]


def _get(model: nn.Module, path: str) -> nn.Module | None:
    module = model
    for part in path.split("."):
        module = getattr(module, part, None)
        if not isinstance(module, nn.Module):
            return None
    return module


def model_summary(model: nn.Module, seconds: float = 3.0, macs: bool = True) -> dict:
    """Parameters and MACs (plain ops, batch of one) of `model`, in total and per part, for a
    `seconds`-long input; macs=False skips the forward pass (parameters only).

    Keys: model, seconds, num_samples, params, params_m, macs, gmacs, parts (rows: path, label, depth,
    params, macs), and where the model has them: student_params, student_macs, backend_params,
    backend_macs, pfm_params, pfm_macs, num_blocks, block_params, block_macs (first SV-Mixer block).
    """
    per_module = None
    summary = {
        "model": type(model).__name__,
        "seconds": float(seconds),
        "num_samples": int(round(seconds * SAMPLE_RATE)),
        "params": count_params(model),
    }
    summary["params_m"] = round(summary["params"] / 1e6, 3)
    if macs:
        total, per_module = count_macs(model, seconds)
        summary["macs"] = int(total)
        summary["gmacs"] = round(total / 1e9, 3)
    for key, path in (("student", "student"), ("backend", "backend"), ("pfm", "backend.pfm")):
        module = _get(model, path)
        if module is not None:
            summary[f"{key}_params"] = count_params(module)
            if per_module is not None:
                summary[f"{key}_macs"] = _macs_of(module, path, per_module)
    blocks = _get(model, "student.layers")
    if isinstance(blocks, nn.ModuleList) and len(blocks):
        summary["num_blocks"] = len(blocks)
        summary["block_params"] = count_params(blocks[0])
        if per_module is not None:
            summary["block_macs"] = _macs_of(blocks[0], "student.layers.0", per_module)
    summary["parts"] = _rows(model, per_module)
    return summary


def format_summary(summary: dict) -> str:
    """The summary as a readable table (parameters; GMACs when counted)."""
    with_macs = "macs" in summary
    width = max([len("  " * r["depth"] + r["label"]) for r in summary["parts"]] + [24])
    rule = "-" * (width + (26 if with_macs else 16))
    head = f"{'part':<{width}}  {'params':>12}" + (f"  {'GMACs':>8}" if with_macs else "")
    lines = [
        f"# {summary['model']}: {summary['seconds']:g} s input ({summary['num_samples']} samples)",
        head,
        rule,
    ]

    def line(name: str, params: int, macs: int | None) -> str:
        text = f"{name:<{width}}  {params:>12,}"
        if with_macs:
            text += f"  {macs / 1e9:8.3f}" if macs else f"  {'-':>8}"
        return text

    for row in summary["parts"]:
        lines.append(line("  " * row["depth"] + row["label"], row["params"], row.get("macs")))
    lines.append(rule)
    lines.append(line("total", summary["params"], summary.get("macs")))
    if "block_params" in summary:
        text = f"one SV-Mixer block: {summary['block_params']:,} params"
        if with_macs:
            text += f", {summary['block_macs'] / 1e9:.3f} GMACs"
        lines.append(text + f" ({summary['num_blocks']} blocks)")
    if with_macs:
        lines.append("MACs = FLOPs / 2 of matrix products and convolutions (FlopCounterMode), batch of one")
    return "\n".join(lines)
