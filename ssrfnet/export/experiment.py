"""Stage 6 for an experiment: export its model, optionally quantize and measure the int8 cost on the
development and test trials, and regenerate the Results and Export sections of <exp>/README.md."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ssrfnet.audio import read_audio
from ssrfnet.export.cost import int8_cost, record_int8_cost
from ssrfnet.export.stage import check_export_dir, export_markdown, write_export
from ssrfnet.fileio import staged_dir
from ssrfnet.kaldi.table import read_table
from ssrfnet.models.checkpoint import load_model_and_config
from ssrfnet.scoring.report import results_markdown, update_readme


def parity_audio(data: str | None = None, wav: str | None = None) -> np.ndarray | None:
    """Real audio for the parity check: a wav.scp entry/path, or the first entry of a data dir's wav.scp."""
    if wav:
        return read_audio(wav, where=wav)
    if data:
        key, entry = read_table(Path(data) / "wav.scp")[0]
        return read_audio(entry, where=f"{data}/wav.scp:{key}")
    return None


def export_experiment(model_path: str, exp_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                      real_audio: np.ndarray | None = None, quantize: str | None = None, int8_eval=(),
                      eval_options: dict | None = None, **export_options) -> dict:
    """Export `model_path` into `out_dir` (with <exp>/scores/threshold.json when stage 5 wrote one); with
    quantize='int8' and `int8_eval` ([(data dir, [trials])]) the int8 cost goes into export.json.

    The export directory is replaced as one set only when everything above succeeded (`staged_dir`): a
    failing re-export (parity, int8 cost, a full disk) leaves the previous complete export byte-identical."""
    exp_dir, out_dir = Path(exp_dir), Path(out_dir)
    check_export_dir(out_dir)
    model, config = load_model_and_config(model_path)
    with staged_dir(out_dir) as stage:
        report = write_export(model, stage.path, named_as=out_dir, config=config, real_audio=real_audio,
                              quantize=quantize, threshold_file=exp_dir / "scores" / "threshold.json",
                              **export_options)
        if quantize == "int8" and int8_eval:
            options = eval_options or {}
            report = record_int8_cost(stage.path, int8_cost(
                stage.path, int8_eval, protocol=options.get("eval_protocol", "crops"),
                num_crops=options.get("eval_num_crops", 10), batch_size=options.get("eval_batch_size", 40),
                runs=export_options.get("runs", 5)))
    report["model"] = model_path
    results = exp_dir / "results.json"
    if results.is_file():
        update_readme(exp_dir / "README.md", "results", "Results",
                      results_markdown(json.loads(results.read_text(encoding="utf-8"))))
    update_readme(exp_dir / "README.md", "export", "Export", export_markdown(report))
    return report
