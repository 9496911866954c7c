"""What int8 quantization costs: embeddings and EER of `model.int8.onnx` against `model.onnx`, and speed.

`int8_cost(export_dir, eval_sets)` embeds the utterances of each trial list with both graphs (the stage-4
crop protocol, `ssrfnet.extract.EmbeddingExtractor`), scores the trials with both (stage 5's cosine
scoring), and times both graphs on the same batch, alternating runs so that machine load hits both alike.
`record_int8_cost` merges the result into `<export>/export.json` (`int8.eval`, `int8.speed`); the stage-6
CLI then regenerates the README section (`export_markdown`).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from ssrfnet.errors import ConfError
from ssrfnet.export.errors import ExportError
from ssrfnet.export.runtime import OnnxEmbedder
from ssrfnet.fileio import atomic_write_json


def export_pair(export_dir: Path, num_threads: int | None = None) -> tuple[OnnxEmbedder, OnnxEmbedder]:
    """The fp32 and int8 graphs of an export directory, both checked against its export.json."""
    report_path = export_dir / "export.json"
    if not report_path.is_file():
        raise ExportError(f"{report_path}: not found (export with quantize='int8' first)")
    identity = json.loads(report_path.read_text(encoding="utf-8")).get("identity") or {}
    if not (export_dir / "model.int8.onnx").is_file():
        raise ExportError(f"{export_dir}/model.int8.onnx: not found (export with --quantize int8)")
    kwargs = {"num_threads": num_threads, "expected": identity, "expected_from": str(report_path)}
    return (OnnxEmbedder(export_dir / "model.onnx", quantized=False, **kwargs),
            OnnxEmbedder(export_dir / "model.int8.onnx", quantized=True, **kwargs))


def alternating_speed(fp32: OnnxEmbedder, int8: OnnxEmbedder, batch: int = 4, runs: int = 5) -> dict:
    """Median latency of both graphs on one (batch, crop) input, runs alternating, after one warm-up each."""
    from ssrfnet.export.graph import realish_audio

    length = fp32.crop_samples or 48000
    x = np.resize(realish_audio(length * batch), (batch, length))
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for i in range(runs + 1):
        for name, embedder in (("fp32", fp32), ("int8", int8)):
            start = time.perf_counter()
            embedder.run(x)
            if i:
                times[name].append(time.perf_counter() - start)
    return {"batch": batch, "seconds": length / 16000, "threads": fp32.num_threads, "runs": runs,
            "fp32_ms": 1000 * statistics.median(times["fp32"]),
            "int8_ms": 1000 * statistics.median(times["int8"]),
            "load_average": list(os.getloadavg())}


def _embed(extractor, items) -> tuple[list[str], np.ndarray, np.ndarray]:
    keys, vectors, crops = [], [], []
    for key, vec, crop in extractor.extract(items):
        keys.append(key)
        vectors.append(vec)
        crops.append(crop)
    return keys, np.stack(vectors), np.stack(crops)


def trial_list_cost(fp32, int8, data_dir: Path, trial_file: Path, protocol: str, num_crops: int,
                    batch_size: int) -> dict:
    """fp32 and int8 EER on one trial list, and the crop-embedding cosines between the two graphs."""
    from ssrfnet.extract import EmbeddingExtractor, iter_audio
    from ssrfnet.kaldi.table import read_table
    from ssrfnet.kaldi.trials import read_trials
    from ssrfnet.scoring.cosine import Embeddings, cosine_scores, scoring_vectors, trial_indices
    from ssrfnet.scoring.metrics import compute_eer

    table = read_table(data_dir / "wav.scp")
    trials = read_trials(trial_file, utts=[k for k, _ in table])  # names a trial utterance not in wav.scp
    wanted = {t[0] for t in trials} | {t[1] for t in trials}
    table = [(k, v) for k, v in table if k in wanted]
    labels = np.fromiter((t[2] for t in trials), dtype=bool, count=len(trials))
    row: dict = {"protocol": protocol, "num_trials": len(trials), "num_utterances": len(table)}
    embeddings = {}
    for name, embedder in (("fp32", fp32), ("int8", int8)):
        extractor = EmbeddingExtractor(embedder, num_crops=num_crops, batch_size=batch_size)
        keys, vectors, crops = _embed(extractor, iter_audio(table, str(data_dir / "wav.scp")))
        emb = Embeddings(keys, vectors, crops, source=f"{data_dir} ({name})")
        enroll, test = trial_indices(trials, emb, str(trial_file))
        scores = cosine_scores(scoring_vectors(emb, protocol), enroll, test)
        row[f"eer_{name}"] = 100 * compute_eer(scores, labels)[0]
        embeddings[name] = crops
    a, b = embeddings["fp32"].reshape(-1, fp32.embed_dim), embeddings["int8"].reshape(-1, fp32.embed_dim)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    row.update(cosine_mean=float(cos.mean()), cosine_min=float(cos.min()))
    base = row["eer_fp32"]
    row["eer_relative_change"] = (row["eer_int8"] - base) / base if base > 0 else float(row["eer_int8"] > 0)
    return row


def int8_cost(export_dir: str | os.PathLike, eval_sets=(), *, protocol: str = "crops", num_crops: int = 10,
              batch_size: int = 40, runs: int = 5, num_threads: int | None = None) -> dict:
    """eval_sets: [(data_dir, [trial files])], e.g. the development and test sets of stage 5.

    Returns {'speed': ..., 'eval': {'lists': {list name: row}}} (EERs in %, relative change as a fraction)."""
    from ssrfnet.scoring.pipeline import list_name

    export_dir = Path(export_dir)
    fp32, int8 = export_pair(export_dir, num_threads)
    info: dict = {"speed": alternating_speed(fp32, int8, runs=runs), "eval": {"lists": {}}}
    for data_dir, trial_files in eval_sets:
        for trial_file in trial_files:
            row = trial_list_cost(fp32, int8, Path(data_dir), Path(trial_file), protocol, num_crops,
                                  batch_size)
            info["eval"]["lists"][list_name(trial_file)] = row
            print(f"export: int8 cost on {trial_file}: EER {row['eer_fp32']:.3f}% -> {row['eer_int8']:.3f}% "
                  f"({100 * row['eer_relative_change']:+.1f}%), crop cosine to fp32 mean "
                  f"{row['cosine_mean']:.5f}", flush=True)
    return info


def record_int8_cost(export_dir: str | os.PathLike, info: dict) -> dict:
    """Merge `int8_cost`'s result into <export>/export.json['int8']; returns the updated report."""
    path = Path(export_dir) / "export.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    if "int8" not in report:
        raise ExportError(f"{path}: no int8 export recorded (export with quantize='int8' first)")
    report["int8"].update(info)
    atomic_write_json(path, report, indent=2)
    return report


def parse_eval_sets(specs, option: str = "--int8-eval") -> list[tuple[Path, list[Path]]]:
    """['data/vox1:data/vox1/trials/a.kaldi,data/vox1/trials/b.kaldi', ...] -> [(data dir, [trials])]."""
    sets = []
    for spec in specs:
        data_dir, sep, trials = str(spec).partition(":")
        files = [Path(t) for t in trials.split(",") if t]
        if not sep or not data_dir or not files:
            raise ConfError(f"{option}: {spec!r} must be DATA_DIR:TRIALS[,TRIALS...]")
        for path in [Path(data_dir) / "wav.scp", *files]:
            if not path.is_file():
                raise ConfError(f"{option}: {path} not found (in {spec!r})")
        sets.append((Path(data_dir), files))
    return sets
