"""The ablation table of every finished experiment: `<exp>/ablation.md` and `<exp>/ablation.json`.

A finished experiment is a directory `<exp>/<name>/` holding the `results.json` of stage 5
(`ssrfnet.scoring.report`); `<exp>/<name>_lm/` is the large-margin fine-tuned (LMFT) version of
`<exp>/<name>/`. Each system of each trial list becomes one row, its name parsed as
`<protocol>[_asnorm<N>][_affine|_qmf]`:

    trials | experiment | LMFT | protocol | AS-norm | calibration | EER | minDCF(p) ... | Cllr | actDCF(p) ...

Cllr and the actual DCF exist only for calibrated systems (their scores are log-likelihood ratios); a
system name of another shape keeps its whole name as the protocol. Rows are sorted by (trial list,
experiment, LMFT, protocol, AS-norm top-N, calibration none < affine < qmf), so the files are byte-identical
for the same inputs; nothing time-dependent is written.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ssrfnet.errors import SSRFNetError
from ssrfnet.fileio import atomic_write_json, atomic_write_text

FORMAT = "ssrfnet-ablation"
VERSION = 1
LMFT_SUFFIX = "_lm"
SYSTEM_RE = re.compile(r"^(?P<protocol>[a-z]+)(?:_asnorm(?P<top_n>\d+))?(?:_(?P<cal>affine|qmf))?$")
CALIBRATION_ORDER = {"none": 0, "affine": 1, "qmf": 2}


class AblationError(SSRFNetError, ValueError):
    """No experiments, or an unreadable results.json; the message names the directory or file."""


@dataclass
class Experiment:
    name: str  # directory name
    base: str  # name without the LMFT suffix
    lmft: bool
    path: Path
    results: dict


def read_experiment(path: Path) -> Experiment:
    results_path = path / "results.json"
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AblationError(f"{results_path}: not a readable results file ({err})") from None
    if not isinstance(results, dict) or not isinstance(results.get("lists"), dict):
        raise AblationError(f"{results_path}: no 'lists' of scored trial lists (not written by stage 5?)")
    name = path.name
    lmft = name.endswith(LMFT_SUFFIX) and len(name) > len(LMFT_SUFFIX)
    return Experiment(name, name[: -len(LMFT_SUFFIX)] if lmft else name, lmft, path, results)


def find_experiments(exp_root: str | os.PathLike) -> list[Experiment]:
    """Every `<exp_root>/<name>/results.json`, sorted by (base name, LMFT)."""
    root = Path(exp_root)
    if not root.is_dir():
        raise AblationError(f"{root}: no such experiment directory")
    found = [read_experiment(d) for d in sorted(root.iterdir()) if (d / "results.json").is_file()]
    if not found:
        raise AblationError(f"{root}: no finished experiment (no {root}/<name>/results.json; run stage 5)")
    return sorted(found, key=lambda e: (e.base, e.lmft))


def parse_system(system: str) -> tuple[str, int | None, str]:
    """(protocol, AS-norm top-N or None, calibration 'none'|'affine'|'qmf')."""
    match = SYSTEM_RE.match(system)
    if not match:
        return system, None, "none"
    top_n = match["top_n"]
    return match["protocol"], int(top_n) if top_n else None, match["cal"] or "none"


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def experiment_rows(exp: Experiment, p_targets: list[float]) -> list[dict]:
    params = _number((exp.results.get("model") or {}).get("parameters"))
    rows = []
    for list_name, systems in exp.results["lists"].items():
        for system, metrics in systems.items():
            protocol, top_n, calibration = parse_system(system)
            row = {"trials": list_name, "experiment": exp.base, "lmft": exp.lmft, "exp_dir": str(exp.path),
                   "system": system, "protocol": protocol, "asnorm_top_n": top_n, "calibration": calibration,
                   "eer": _number(metrics.get("eer")), "cllr": _number(metrics.get("cllr")),
                   "num_trials": _number(metrics.get("num_trials")), "parameters": params}
            for p in p_targets:
                row[f"min_dcf_{p:g}"] = _number(metrics.get(f"min_dcf_{p:g}"))
                row[f"act_dcf_{p:g}"] = _number(metrics.get(f"act_dcf_{p:g}"))
            rows.append(row)
    return rows


def row_key(row: dict) -> tuple:
    top_n = row["asnorm_top_n"]
    return (row["trials"], row["experiment"], row["lmft"], row["protocol"],
            -1 if top_n is None else top_n, CALIBRATION_ORDER.get(row["calibration"], 9), row["system"])


def _fmt(value, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _fmt_params(value) -> str:
    return "–" if value is None else f"{value / 1e6:.2f} M"


def ablation_markdown(rows: list[dict], experiments: list[Experiment], p_targets: list[float]) -> str:
    min_cols = " | ".join(f"minDCF (p={p:g})" for p in p_targets)
    act_cols = " | ".join(f"actDCF (p={p:g})" for p in p_targets)
    lines = [
        "# Ablation: every finished experiment", "",
        "One row per trial list, experiment, LMFT (`<name>_lm`), protocol, AS-norm and calibration. "
        "EER in %, minDCF normalised; Cllr (bits) and the actual DCF (cost of the Bayes threshold "
        "log((1-p)/p) on the LLR) only for calibrated systems, whose scores are log-likelihood ratios.", "",
        "Experiments: " + ", ".join(f"[{e.name}]({e.name}/results.md)" for e in experiments), "",
        f"| trials | experiment | LMFT | protocol | AS-norm | calibration | EER (%) | {min_cols} | Cllr | "
        f"{act_cols} | params | # trials |",
        "|" + "---|" * (10 + 2 * len(p_targets)),
    ]
    for r in rows:
        mins = " | ".join(_fmt(r[f"min_dcf_{p:g}"], 4) for p in p_targets)
        acts = " | ".join(_fmt(r[f"act_dcf_{p:g}"], 4) for p in p_targets)
        asnorm = "–" if r["asnorm_top_n"] is None else f"top-{r['asnorm_top_n']}"
        trials = "–" if r["num_trials"] is None else f"{int(r['num_trials']):,}"
        lines.append(
            f"| {r['trials']} | {r['experiment']} | {'yes' if r['lmft'] else 'no'} | {r['protocol']} | "
            f"{asnorm} | {r['calibration']} | {_fmt(r['eer'], 3)} | {mins} | {_fmt(r['cllr'], 4)} | {acts} | "
            f"{_fmt_params(r['parameters'])} | {trials} |"
        )
    return "\n".join(lines) + "\n"


def build_ablation(exp_root: str | os.PathLike) -> tuple[dict, str]:
    """(ablation.json's object, ablation.md's text) for the experiments under `exp_root`."""
    experiments = find_experiments(exp_root)
    p_targets = sorted({float(p) for e in experiments for p in e.results.get("p_targets", [0.01, 0.05])})
    rows = sorted((r for e in experiments for r in experiment_rows(e, p_targets)), key=row_key)
    blob = {
        "format": FORMAT, "version": VERSION, "p_targets": p_targets,
        "experiments": [{"name": e.name, "experiment": e.base, "lmft": e.lmft, "dir": str(e.path),
                         "calibrated": "calibration" in e.results} for e in experiments],
        "rows": rows,
    }
    return blob, ablation_markdown(rows, experiments, p_targets)


def write_ablation(exp_root: str | os.PathLike, out_md=None, out_json=None) -> dict:
    """Write `<exp_root>/ablation.{md,json}` (or the given paths) atomically; returns the JSON object."""
    blob, text = build_ablation(exp_root)
    atomic_write_json(out_json or Path(exp_root) / "ablation.json", blob, indent=2)
    atomic_write_text(out_md or Path(exp_root) / "ablation.md", text)
    return blob
