"""Result tables: `<exp>/results.md`, `<exp>/results.json`, and a marked section of `<exp>/README.md`.

Regenerating is idempotent: the README section between the begin/end markers is replaced, never
appended twice; text outside the markers is kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ssrfnet.errors import SSRFNetError
from ssrfnet.fileio import atomic_write_text, strict_json
from ssrfnet.models import load_model
from ssrfnet.models.summary import model_summary
from ssrfnet.scoring.published import published_cell, published_notes, published_summary


class ReportError(SSRFNetError, ValueError):
    """A results file another table draws on is missing or unreadable; the message names it."""


BEGIN = "<!-- ssrfnet:{name} begin (generated; edits inside are overwritten) -->"
END = "<!-- ssrfnet:{name} end -->"

SYSTEM_TITLES = {
    "crops": "cosine, mean of crop x crop cosines (official)",
    "utt": "cosine, utterance embeddings",
}


CALIBRATION_TITLES = {"qmf": "QMF calibration (LLR)", "affine": "affine calibration (LLR)"}


def system_title(system: str) -> str:
    base, _, kind = system.rpartition("_")
    if kind in CALIBRATION_TITLES and base:
        return f"{CALIBRATION_TITLES[kind]} of {system_title(base)}"
    if system in SYSTEM_TITLES:
        return SYSTEM_TITLES[system]
    if "_asnorm" in system:
        base, n = system.split("_asnorm")
        return f"AS-norm top-{n} on {base}"
    return system


def model_info(exp_dir: str | os.PathLike, model=None, model_path: str | None = None) -> dict:
    """Parameters and MACs (3 s input) of the experiment's model, for the results table.

    A model file that cannot be read or run is reported in the table ('error'), not raised: the scores are
    still worth writing."""
    if model is None:
        final = Path(model_path) if model_path else Path(exp_dir) / "final.pt"
        if not final.is_file():
            return {}
        try:
            model = load_model(str(final))
        except SSRFNetError as err:
            return {"error": str(err)}
    try:
        summary = model_summary(model, seconds=3.0)
    except SSRFNetError as err:
        return {"parameters": sum(p.numel() for p in model.parameters()), "error": str(err)}
    return {"parameters": int(summary["params"]), "macs": float(summary["macs"]),
            "summary": {k: v for k, v in summary.items() if not isinstance(v, (list, dict))}}


SANITY_SYSTEMS = ("crops", "utt")  # plain cosine systems: what the sanity baseline is compared on


def sanity_summary(path: str | os.PathLike, lists: dict) -> dict:
    """The no-training baseline's metrics (its stage-5 results.json at `path`) on the lists and plain
    cosine systems that this experiment scored; a missing or unreadable file is an error naming it."""
    path = Path(path)
    try:
        theirs = json.loads(path.read_text(encoding="utf-8"))
        their_lists = theirs["lists"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ReportError(f"{path}: not a readable stage-5 results file of the sanity baseline "
                          f"({type(err).__name__}: {err})") from None
    keep = {name: {system: their_lists[name][system] for system in SANITY_SYSTEMS
                   if system in systems and system in their_lists.get(name, {})}
            for name, systems in lists.items() if name in their_lists}
    return {"results": str(path), "exp_dir": theirs.get("exp_dir", str(path.parent)),
            "lists": {name: systems for name, systems in keep.items() if systems}}


def sanity_markdown(results: dict) -> list[str]:
    """Lines comparing this model with the no-training sanity baseline; empty without one."""
    sanity = results.get("sanity_baseline") or {}
    rows = [(name, system, results["lists"][name][system]["eer"], m["eer"])
            for name, systems in sanity.get("lists", {}).items() for system, m in systems.items()]
    if not rows:
        return []
    lines = ["", f"What learning adds: the no-training sanity baseline (per-utterance MFCC mean and standard "
             f"deviation, cosine; `{sanity.get('exp_dir', 'exp/mfcc_stats')}`) on the same lists.", "",
             "| trials | system | EER (%) of this model | EER (%) of the MFCC baseline |",
             "|---|---|---|---|"]
    lines += [f"| {name} | {system_title(system)} | {ours:.3f} | {theirs:.3f} |"
              for name, system, ours, theirs in rows]
    return lines


def _fmt_count(value) -> str:
    if value is None:
        return "n/a"
    value = float(value)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f}"


def results_markdown(results: dict) -> str:
    """A markdown table: one row per (trial list, system), EER and minDCF columns."""
    p_targets = results.get("p_targets", [0.01, 0.05])
    info = results.get("model", {})
    lines = []
    lines.append(
        f"Model: `{results.get('model_path', 'n/a')}`; parameters: {_fmt_count(info.get('parameters'))}; "
        f"MACs (3 s): {_fmt_count(info.get('macs'))}"
    )
    if results.get("protocol_note"):
        lines.append("")
        lines.append(results["protocol_note"])
    lines.append("")
    dcf_cols = " | ".join(f"minDCF (p={p:g})" for p in p_targets)
    header = f"| trials | system | EER (%) | {dcf_cols} | # trials | published EER (%), same protocol |"
    lines.append(header)
    lines.append("|" + "---|" * (5 + len(p_targets)))
    for list_name, systems in results.get("lists", {}).items():
        for system, m in systems.items():
            dcfs = " | ".join(f"{m[f'min_dcf_{p:g}']:.4f}" for p in p_targets)
            lines.append(
                f"| {list_name} | {system_title(system)} | {m['eer']:.3f} | {dcfs} | {m['num_trials']:,} "
                f"| {published_cell(list_name, system, results)} |"
            )
    for note in published_notes(results):
        lines += ["", note]
    lines.extend(calibration_markdown(results, p_targets))
    lines.extend(sanity_markdown(results))
    if results.get("threshold"):
        th = results["threshold"]
        lines.append("")
        lines.append(
            f"Verification threshold {th['threshold']:.4f} ({th['criterion']} point of `{th['trials']}`, "
            f"{th['protocol']} cosine; dev EER {th['eer']:.3f}%), stored in `scores/threshold.json`."
        )
    lines.append("")
    lines.append("All experiments side by side: [the ablation table](../ablation.md) (local/ablation.sh).")
    return "\n".join(lines) + "\n"


def calibration_markdown(results: dict, p_targets) -> list[str]:
    """Lines of the calibrated systems' table (Cllr, minCllr, actual DCF); empty without calibration."""
    rows = [(name, system, m) for name, systems in results.get("lists", {}).items()
            for system, m in systems.items() if "cllr" in m]
    if not rows:
        return []
    cal = results.get("calibration") or {}
    dcf_cols = " | ".join(f"actDCF (p={p:g})" for p in p_targets)
    lines = ["", f"Calibrated systems: scores are log-likelihood ratios (calibration trained on "
             f"`{cal.get('trials', 'n/a')}` at target prior {cal.get('prior', 'n/a')}; models in "
             "`scores/calibration/`). Cllr and minCllr in bits; actual DCF = cost of the Bayes threshold "
             "log((1-p)/p).", "", f"| trials | system | Cllr | minCllr | {dcf_cols} |",
             "|" + "---|" * (4 + len(p_targets))]
    for name, system, m in rows:
        dcfs = " | ".join(f"{m[f'act_dcf_{p:g}']:.4f}" for p in p_targets)
        lines.append(f"| {name} | {system_title(system)} | {m['cllr']:.4f} | {m['min_cllr']:.4f} | {dcfs} |")
    return lines


def replace_section(text: str, name: str, body: str) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        return head + block + tail
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    return text + sep + block + "\n"


def readme_with_section(path: str | os.PathLike, name: str, title: str, body: str) -> str:
    """The text of a README with its marked section `name` replaced (or added) by `## title` + body."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else f"# {path.parent.name}\n\n"
    return replace_section(text, name, f"## {title}\n\n{body}")


def update_readme(path: str | os.PathLike, name: str, title: str, body: str) -> None:
    """Replace (or add) the marked section `name` of a README with `## title` + body."""
    atomic_write_text(path, readme_with_section(path, name, title, body))


def results_texts(exp_dir: str | os.PathLike, results: dict) -> dict[Path, str]:
    """{path: text} of results.json, results.md and README.md (its results section replaced), in the order
    they are to be written."""
    exp_dir = Path(exp_dir)
    results = {**results, "published": published_summary(results)}
    table = results_markdown(results)
    return {exp_dir / "results.json": strict_json(results, indent=2, sort_keys=True) + "\n",
            exp_dir / "results.md": f"# Results: {exp_dir.name}\n\n{table}",
            exp_dir / "README.md": readme_with_section(exp_dir / "README.md", "results", "Results", table)}


def write_results(exp_dir: str | os.PathLike, results: dict) -> str:
    """Write results.json, results.md and the README results section; return the markdown."""
    for path, text in results_texts(exp_dir, results).items():
        atomic_write_text(path, text)
    return results_markdown({**results, "published": published_summary(results)})
