"""The figures SSRFNet's authors published, to set beside this run's in the results table.

Only like is set beside like: a published figure appears on the row of the same trial list and the same
protocol (the official one: 10 x 3 s crops, mean of the crop cosines, no AS-norm, no mean subtraction).
On the mini corpus no figure is shown at all: its lists are synthetic stand-ins and its model a small one,
so the column says what the mini run is not, and the published figures are listed in a note for reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# the protocol of every published figure (ssrfnet.scoring.pipeline system name)
PUBLISHED_SYSTEM = "crops"
PAPER_MODEL = "SSRFNet (75,164,380 parameters) trained on VoxCeleb2-dev"
PAPER_PARAMETERS = 75_164_380


@dataclass(frozen=True)
class Published:
    real_list: str  # what the list is on real data
    eer: float  # EER in %
    source: str
    min_dcf: dict[float, float] = field(default_factory=dict)  # p_target -> minDCF
    decimals: int = 3  # as published

    def text(self) -> str:
        dcf = "".join(f", minDCF({p:g}) {v:.3f}" for p, v in self.min_dcf.items())
        return f"{self.eer:.{self.decimals}f}{dcf} ({self.source})"


PUBLISHED = {
    "vox1_O_cleaned": Published("VoxCeleb1-O", 0.601, "SSRFNet paper, Tables 1-2", {0.05: 0.041}),
    "vox1_E_cleaned": Published("VoxCeleb1-E", 0.800, "SSRFNet paper, Table 1"),
    "vox1_H_cleaned": Published("VoxCeleb1-H", 1.446, "SSRFNet paper, Table 1"),
    "vcmix_test": Published("VCMix", 2.47, "SSRFNet paper, Table 3; 2.467 in the text", decimals=2),
    "voxsrc23_test": Published("VoxSRC-23 test", 4.14, "SSRFNet paper, Table 3; 4.136 in the text", {}, 2),
    "voices_eval": Published("VOiCES eval", 8.55, "official repository README, commit 3b052e2", decimals=2),
}
# lists the recipe prepares that SSRFNet's authors did not report
UNREPORTED = {
    "voices_dev": "VOiCES dev",
    "cnceleb1_eval": "CN-Celeb1 eval",
    "sitw_dev_core-core": "SITW dev core-core",
    "sitw_eval_core-core": "SITW eval core-core",
}


def real_name(list_name: str, info: dict) -> str:
    if list_name in PUBLISHED:
        return PUBLISHED[list_name].real_list
    return UNREPORTED.get(list_name) or info.get("title") or list_name


def published_cell(list_name: str, system: str, results: dict) -> str:
    """The table cell of the published column for one (list, system) row."""
    info = results.get("list_info", {}).get(list_name, {})
    if system != PUBLISHED_SYSTEM or results.get("subtract_mean"):
        return "-"
    if info.get("corpus") == "mini":
        return f"not comparable: mini stand-in, not {real_name(list_name, info)}"
    pub = PUBLISHED.get(list_name)
    return pub.text() if pub else "not reported"


def published_notes(results: dict) -> list[str]:
    """Paragraphs under the table: what the published column compares, or why the mini run cannot."""
    names = list(results.get("lists", {}))
    infos = results.get("list_info", {})
    mini = [n for n in names if infos.get(n, {}).get("corpus") == "mini"]
    figures = "; ".join(f"{p.real_list} {p.text()}" for p in PUBLISHED.values())
    notes = []
    if mini:
        params = results.get("model", {}).get("parameters")
        size = f"a {params / 1e6:.1f} M-parameter model" if params else "a small model"
        notes.append(
            "**The mini run is not the paper's experiment**: its lists are synthetic stand-ins (text-to-"
            f"speech talkers in the real sets' layouts) and it trains {size} briefly against a random "
            f"teacher, so no figure of it compares with a published one. Published figures ({PAPER_MODEL}, "
            f"EER %), for reference only: {figures}."
        )
    if len(mini) < len(names):
        notes.append(
            f"Published column: {PAPER_MODEL}, official protocol (10 x 3 s crops, mean crop cosine, no "
            "AS-norm, no large-margin fine-tuning), EER %; shown on the rows of that protocol only."
        )
        params = results.get("model", {}).get("parameters")
        if params and params != PAPER_PARAMETERS:
            notes.append(
                f"This model has {params:,} parameters, the paper's {PAPER_PARAMETERS:,}: the published "
                "figures are the paper's system, not this configuration."
            )
    return notes


def published_summary(results: dict) -> dict:
    """For results.json: per list, the published figure (or why there is none)."""
    out = {}
    for name in results.get("lists", {}):
        info = results.get("list_info", {}).get(name, {})
        pub = PUBLISHED.get(name)
        entry = {"real_list": real_name(name, info), "system": PUBLISHED_SYSTEM,
                 "comparable": info.get("corpus") != "mini" and pub is not None
                 and not results.get("subtract_mean")}
        if pub:
            entry.update({"eer": pub.eer, "min_dcf": {f"{p:g}": v for p, v in pub.min_dcf.items()},
                          "source": pub.source})
        out[name] = entry
    return out
