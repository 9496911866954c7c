"""IDRnD ReDimNet hub files: the released names, their configurations, and model_config conversion.

`torch.hub.load('IDRnD/ReDimNet', 'ReDimNet', model_name, train_type, dataset)` fetches
`{model_name}-{dataset}-{train_type}.pt` (HUB_URL), a dict {'model_config': ReDimNetWrap kwargs,
'state_dict': ...}. Before the Nov-2024 refactor the files were `redimnet-{size}-vox2-{lm|ptn}.pt`.
The names and configurations are those of the published hub code and its released checkpoints
(shared/reference/redimnet-official.md); a file's own model_config always wins over this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ssrfnet.errors import CheckpointError

HUB_URL = "https://github.com/IDRnD/ReDimNet/releases/download/latest/{name}.pt"

# Released files per model name (the hub's EVALUATION.md): dataset -> training types.
HUB_RELEASES: dict[str, dict[str, tuple[str, ...]]] = {
    **{f"b{i}": {"vox2": ("ptn", "ft_lm")} for i in range(7)},
    "M": {"vb2": ("ptn",), "vb2+vox2+cnc": ("ft_mix",)},
    "S": {"vb2": ("ptn",), "vb2+vox2+cnc": ("ft_mix",)},
}

# Model name -> our ReDimNet preset (ssrfnet.models.configs.REDIMNET_CONFIGS). B0, B2 and M were rebuilt
# from released checkpoints, B1 and B3-B6 follow WeSpeaker's builders; S's configuration is not
# published outside its files, so an S file must carry its model_config.
HUB_PRESETS: dict[str, str | None] = {**{f"b{i}": f"b{i}" for i in range(7)}, "M": "m", "S": None}

_TRAIN_TYPES = ("ptn", "ft_lm", "ft_mix")
_CURRENT_NAME = re.compile(r"^(?P<model>[A-Za-z0-9]+)-(?P<dataset>[A-Za-z0-9+]+)-(?P<train>ptn|ft_lm|ft_mix)"
                           r"\.pt$")
_OLD_NAME = re.compile(r"^redimnet-(?P<model>[A-Za-z0-9]+)-(?P<dataset>[A-Za-z0-9+]+)-(?P<train>lm|ptn)\.pt$")


@dataclass(frozen=True)
class HubName:
    """A file name in the hub's naming scheme; `model` is as written (checked by `hub_preset`)."""

    model: str
    dataset: str
    train_type: str
    old_naming: bool

    def __str__(self) -> str:
        if self.old_naming:
            return f"redimnet-{self.model}-{self.dataset}-{self.train_type}"
        return f"{self.model}-{self.dataset}-{self.train_type}"


def released_hub_files() -> list[str]:
    """Every released file stem, e.g. 'b2-vox2-ft_lm', 'M-vb2+vox2+cnc-ft_mix'."""
    return [f"{model}-{dataset}-{train}" for model, sets in HUB_RELEASES.items()
            for dataset, trains in sets.items() for train in trains]


def parse_hub_filename(filename: str) -> HubName | None:
    """'b2-vox2-ft_lm.pt' / 'redimnet-b2-vox2-lm.pt' -> HubName; None for a name outside the scheme."""
    for pattern, old in ((_OLD_NAME, True), (_CURRENT_NAME, False)):
        m = pattern.match(filename)
        if m:
            return HubName(m.group("model"), m.group("dataset"), m.group("train"), old)
    return None


def canonical_hub_model(name: HubName, where: str) -> str:
    """The released model name ('b0'..'b6', 'M', 'S'), case-insensitively; CheckpointError when unknown."""
    for known in HUB_RELEASES:
        if name.model.lower() == known.lower():
            return known
    pattern = "{model}-{dataset}-{" + "|".join(_TRAIN_TYPES) + "}.pt"
    raise CheckpointError(f"{where}: unknown ReDimNet hub model name {name.model!r}; known model names: "
                          f"{', '.join(HUB_RELEASES)} (files {pattern})")


def hub_preset(name: HubName, where: str) -> str:
    """Our preset for a hub file name without a model_config; CheckpointError when none is published."""
    model = canonical_hub_model(name, where)
    preset = HUB_PRESETS[model]
    if preset is None:
        raise CheckpointError(f"{where}: no model_config and ReDimNet {model}'s configuration is not "
                              f"published; use the hub file as released (it carries its model_config)")
    return preset


def redimnet_config_from_official(mc: dict) -> dict:
    """IDRnD ReDimNetWrap kwargs -> our flat model config."""
    unsupported = []
    if mc.get("pooling_func", "ASTP") != "ASTP":
        unsupported.append(f"pooling_func={mc['pooling_func']!r}")
    if mc.get("out_channels") is not None:
        unsupported.append(f"out_channels={mc['out_channels']!r}")
    if mc.get("emb_bn", False):
        unsupported.append("emb_bn=True")
    if mc.get("feat_type", "pt") != "pt":
        unsupported.append(f"feat_type={mc['feat_type']!r}")
    if mc.get("tf_optimized_arch", False):
        unsupported.append("tf_optimized_arch=True")
    if mc.get("num_classes") is not None:
        unsupported.append("num_classes (classifier head)")
    if unsupported:
        raise CheckpointError("unsupported official ReDimNet options: " + ", ".join(unsupported))
    missing = [k for k in ("F", "C", "stages_setup") if k not in mc]
    if missing:
        raise CheckpointError(f"ReDimNet model_config lacks {', '.join(missing)}")
    spec = mc.get("spec_params") or {}
    return {
        "model_type": "redimnet",
        "redimnet_freq": int(mc["F"]),
        "redimnet_channels": int(mc["C"]),
        "redimnet_stages": [(int(s[0]), int(s[1]), int(s[2]), int(s[4] or 0)) for s in mc["stages_setup"]],
        "redimnet_block_2d": mc.get("block_2d_type", "convnext_like"),
        "redimnet_block_1d": mc.get("block_1d_type", "conv+att"),
        "redimnet_group_divisor": int(mc.get("group_divisor", 4)),
        "redimnet_global_context": bool(mc.get("global_context_att", True)),
        "hop_length": int(mc.get("hop_length", 240)),
        "norm_signal": bool(spec.get("norm_signal", False)),
        "embed_dim": int(mc.get("embed_dim", 192)),
    }
