"""The Python API: load a speaker model from anything the recipe writes, embed audio, score, verify.

    import ssrfnet
    model = ssrfnet.load_model("exp/ssrfnet")                         # final.pt + scores/threshold.json
    model = ssrfnet.load_model("exp/ssrfnet/export", backend="onnxruntime", quantized=True)
    vec = model.embed("a.wav")                                         # (192,) at any sample rate
    score = model.similarity("a.wav", "b.wav")                        # mean of the 10 x 10 crop cosines
    result = model.verify("a.wav", "b.wav")                           # calibrated LLR, or score, vs threshold

Embeddings follow stage 4 (`ssrfnet.extract.EmbeddingExtractor`: the official 10 x 3 s crops, batched) and
scores stage 5 (`ssrfnet.scoring.cosine`), so the API, the CLIs and the recipe give the same numbers.
Every error a user can cause is an `ssrfnet.errors.SSRFNetError` with a one-line message.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssrfnet.audio import SAMPLE_RATE, load_waveform
from ssrfnet.errors import CheckpointError, InputError, SSRFNetError

BACKENDS = ("torch", "onnxruntime")
PROTOCOLS = ("crops", "utt")
ACCEPTED = ("an ssrfnet model file (e.g. exp/ssrfnet/final.pt), an official ReDimNet hub or SSRFNet "
            "checkpoint, the released SSRFNet pair (its directory or a.pt,b.pt), an experiment directory"
            " holding final.pt, an export directory (export.json with "
            "model.onnx / model.pt), an ONNX file written by ssrfnet-export, or a save_pretrained "
            "directory (config.json + model.safetensors)")


class ThresholdError(SSRFNetError, ValueError):
    """No usable calibrated threshold (names the threshold file or says how to get one)."""


@dataclass
class Verification:
    """A decision: by the calibrated LLR (decision 'llr': llr >= llr_threshold = log((1-p)/p) at the stated
    target prior p), or by the cosine score against a threshold (decision 'cosine')."""

    score: float
    threshold: float | None
    same_speaker: bool
    protocol: str
    threshold_source: str
    llr: float | None = None
    llr_threshold: float | None = None
    target_prior: float | None = None
    decision: str = "cosine"


@dataclass
class Loaded:
    """What `open_model` found: the embedder, its config and identity, and where thresholds may lie."""

    embedder: object
    backend: str
    source: Path
    config: dict | None
    threshold_files: list[Path]
    torch_module: object = None


def read_threshold(path: Path) -> dict:
    """Stage 5's threshold.json (threshold, protocol, optional mean_vec) with its mean vector loaded."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ThresholdError(f"{path}: not a readable threshold file ({err})") from None
    if not isinstance(info, dict) or not isinstance(info.get("threshold"), (int, float)):
        raise ThresholdError(f"{path}: no numeric 'threshold' entry")
    if info.get("protocol", "crops") not in PROTOCOLS:
        raise ThresholdError(f"{path}: protocol {info.get('protocol')!r} is not one of {PROTOCOLS}")
    info["source"] = str(path)
    mean = info.get("mean_vec")
    if mean:
        candidates = [Path(mean), path.parent / Path(mean).name]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise ThresholdError(f"{path}: its mean vector {mean} is missing (looked beside it too)")
        info["mean"] = np.load(found).astype(np.float32)
    return info


class SpeakerModel:
    """A loaded speaker-embedding model (torch or onnxruntime) with the recipe's crop and scoring protocol."""

    def __init__(self, loaded: Loaded, *, device: str = "cpu", num_crops: int = 10, crop_seconds: float = 3.0,
                 batch_size: int = 40, full_utt: bool = True, protocol: str | None = None,
                 threshold: float | dict | None = None, calibration=None):
        from ssrfnet.extract import EmbeddingExtractor

        self.backend, self.source, self.config = loaded.backend, loaded.source, loaded.config
        self.torch_module = loaded.torch_module
        self.extractor = EmbeddingExtractor(loaded.embedder, num_crops=num_crops, crop_seconds=crop_seconds,
                                            batch_size=batch_size, full_utt=full_utt, device=device)
        self.threshold_info = self._threshold(threshold, loaded.threshold_files)
        default = (self.threshold_info or {}).get("protocol", "crops")
        self.protocol = protocol or default
        if self.protocol not in PROTOCOLS:
            raise InputError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if calibration is None and threshold is not None:
            calibration = False  # a threshold the caller chose: the cosine decision they asked for
        self.calibration, self.calibration_source = find_calibration(calibration, loaded.threshold_files,
                                                                     self.protocol)

    @staticmethod
    def _threshold(threshold, files: list[Path]) -> dict | None:
        if isinstance(threshold, dict):
            return threshold
        if isinstance(threshold, (str, os.PathLike)):
            if not Path(threshold).is_file():
                raise ThresholdError(f"{threshold}: threshold file not found")
            return read_threshold(Path(threshold))
        if threshold is not None:
            return {"threshold": float(threshold), "source": "threshold argument"}
        found = next((f for f in files if f.is_file()), None)
        return read_threshold(found) if found else None

    @property
    def embed_dim(self) -> int:
        return self.extractor.embed_dim

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def threshold(self) -> float | None:
        return None if self.threshold_info is None else float(self.threshold_info["threshold"])

    def __repr__(self) -> str:
        return (f"SpeakerModel(source={str(self.source)!r}, backend={self.backend!r}, "
                f"embed_dim={self.embed_dim}, protocol={self.protocol!r}, threshold={self.threshold})")

    def _extract(self, audios, sr, durations: list | None = None):
        waves = [(f"input{i}", load_waveform(a, sr, where=_where(a, i)))
                 for i, a in enumerate(audios)]
        if not waves:
            raise InputError("no audio given")
        if durations is not None:
            durations.extend(len(wave) / SAMPLE_RATE for _, wave in waves)
        _, vectors, crops = zip(*self.extractor.extract(waves))
        return np.stack(vectors), np.stack(crops)

    def embed(self, audio, sr: int | None = None, *, crops: bool = False) -> np.ndarray:
        """The (embed_dim,) utterance embedding of one recording (stage 4's xvector: the mean of the crop
        embeddings, or for a length-agnostic model the whole utterance); `crops=True`: the
        (num_crops, embed_dim) crop embeddings. `audio`: path, numpy array or tensor (`load_waveform`)."""
        return self.embed_batch([audio], sr, crops=crops)[0]

    def embed_batch(self, audios, sr: int | None = None, *, crops: bool = False) -> np.ndarray:
        """(n, embed_dim) embeddings (or (n, num_crops, embed_dim) crops) of a list of recordings, crops
        of several recordings sharing forward passes."""
        if isinstance(audios, (str, os.PathLike, np.ndarray)) or hasattr(audios, "detach"):
            raise InputError("embed_batch takes a list of recordings; use embed() for one")
        vectors, crop_embs = self._extract(list(audios), sr)
        return crop_embs if crops else vectors

    def scoring_vectors(self, audios, sr: int | None = None, protocol: str | None = None):
        from ssrfnet.scoring.cosine import Embeddings, scoring_vectors

        protocol = protocol or self.protocol
        if protocol not in PROTOCOLS:
            raise InputError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        vectors, crops = self._extract(list(audios), sr)
        emb = Embeddings([f"input{i}" for i in range(len(vectors))], vectors, crops)
        return scoring_vectors(emb, protocol, (self.threshold_info or {}).get("mean"))

    def similarity(self, a, b, sr: int | None = None, *, protocol: str | None = None) -> float:
        """Cosine score of two recordings: protocol 'crops' = mean of the crop x crop cosines (official),
        'utt' = cosine of the utterance embeddings; default: the threshold's protocol, else 'crops'."""
        v = self.scoring_vectors([a, b], sr, protocol)
        return float(v[0] @ v[1])

    def verify(self, a, b, sr: int | None = None, *, threshold: float | None = None,
               target_prior: float | None = None) -> Verification:
        """Same speaker? With the calibration stored with the model (stage 5's
        scores/calibration/<protocol>_qmf.json): llr >= log((1-p)/p) at the target prior p (default: the
        prior the calibration was trained at). Otherwise, or with `threshold`: score >= the threshold
        stored with the model (stage 5's scores/threshold.json, or the export's threshold.json), or
        `threshold`."""
        if threshold is None and self.calibration is not None:
            return self._verify_calibrated(a, b, sr, target_prior)
        if target_prior is not None:
            raise ThresholdError(f"{self.source}: target_prior needs a calibration model (stage 5's "
                                 "scores/calibration/), and none is in use")
        if threshold is None and self.threshold_info is None:
            raise ThresholdError(f"{self.source}: no calibrated threshold stored with this model: pass "
                                 "threshold=..., or run stage 5 (it writes exp/<name>/scores/threshold.json)")
        if threshold is not None:
            th, source, protocol = float(threshold), "threshold argument", self.protocol
        else:
            th, source = self.threshold, self.threshold_info["source"]
            protocol = self.threshold_info.get("protocol", self.protocol)
        score = self.similarity(a, b, sr, protocol=protocol)
        return Verification(score, th, bool(score >= th), protocol, source)

    def _verify_calibrated(self, a, b, sr, target_prior) -> Verification:
        """The LLR of the stored calibration from the score, the durations and the embedding magnitudes,
        computed as stage 5 computes them for a trial."""
        from ssrfnet.scoring.calibration import calibrated_decision
        from ssrfnet.scoring.cosine import Embeddings, scoring_vectors

        model = self.calibration
        protocol = model.info.get("protocol", self.protocol)
        durations: list[float] = []
        vectors, crops = self._extract([a, b], sr, durations)
        emb = Embeddings(["input0", "input1"], vectors, crops)
        mean = calibration_mean(model, self.calibration_source, self.threshold_info)
        v = scoring_vectors(emb, protocol, mean)
        score = float(v[0] @ v[1])
        magnitudes = tuple(float(n) for n in np.linalg.norm(vectors.astype(np.float64), axis=1))
        out = calibrated_decision(model, score, tuple(durations), magnitudes, target_prior)
        return Verification(score, self.threshold, bool(out["same_speaker"]), protocol,
                            self.calibration_source, llr=out["llr"], llr_threshold=out["llr_threshold"],
                            target_prior=out["target_prior"], decision="llr")

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write config.json + model.safetensors (+ threshold.json) for from_pretrained and the Hub."""
        from ssrfnet.models.pretrained import save_pretrained

        if self.torch_module is None or self.config is None:
            raise InputError(f"{self.source}: save_pretrained needs a PyTorch model with its config "
                             "(load a model file with backend='torch')")
        directory = save_pretrained(self.torch_module, self.config, directory)
        if self.threshold_info:
            write_threshold(self.threshold_info, directory)
        return directory


CALIBRATION_KINDS = ("qmf", "affine")  # the one verify uses when several are stored: QMF first


def find_calibration(calibration, threshold_files: list[Path], protocol: str):
    """(CalibrationModel or None, its source): `calibration` False = none; a path or a CalibrationModel =
    that one; None = the one stage 5 stored beside the model's threshold (scores/calibration/
    <protocol>_qmf.json, else _affine.json), if any. AS-normed systems need a cohort verify does not have."""
    from ssrfnet.scoring.calibration import CalibrationModel

    if calibration is False:
        return None, ""
    if isinstance(calibration, CalibrationModel):
        return _plain_system(calibration, "calibration argument"), "calibration argument"
    if calibration is not None:
        return _plain_system(CalibrationModel.load(calibration), str(calibration)), str(calibration)
    for threshold_file in threshold_files:
        for kind in CALIBRATION_KINDS:
            path = threshold_file.parent / "calibration" / f"{protocol}_{kind}.json"
            if path.is_file():
                return _plain_system(CalibrationModel.load(path), str(path)), str(path)
    return None, ""


def _plain_system(model, source: str):
    if model.info.get("asnorm"):
        raise ThresholdError(f"{source}: the calibration of an AS-normed system ({model.system}); verify "
                             "scores without AS-norm: use the <protocol>_qmf.json of the plain cosine system")
    return model


def calibration_mean(model, source: str, threshold_info: dict | None):
    """The mean vector subtracted before the cosine when the calibrated system subtracted one."""
    mean = model.info.get("mean_vec")
    if not mean:
        return None
    if threshold_info is not None and threshold_info.get("mean") is not None:
        return threshold_info["mean"]
    found = next((c for c in (Path(mean), Path(source).parent.parent / Path(mean).name) if c.is_file()), None)
    if found is None:
        raise ThresholdError(f"{source}: its mean vector {mean} is missing (looked beside the scores too)")
    return np.load(found).astype(np.float32)


def write_threshold(info: dict, directory: Path) -> None:
    """threshold.json (and mean_vec.npy) into a model directory, where load_model finds them."""
    from ssrfnet.fileio import atomic_write, atomic_write_json

    keep = {k: v for k, v in info.items() if k not in ("mean", "mean_vec", "source")}
    if info.get("mean") is not None:
        with atomic_write(directory / "mean_vec.npy", "wb") as handle:
            np.save(handle, info["mean"])
        keep["mean_vec"] = "mean_vec.npy"
    atomic_write_json(directory / "threshold.json", keep, indent=2)


def _where(audio, index: int) -> str:
    return str(audio) if isinstance(audio, (str, os.PathLike)) else f"audio {index}"


def _torch_checkpoint(path, threads: list[Path]) -> Loaded:
    from ssrfnet.models.checkpoint import load_model_and_config

    try:
        model, config = load_model_and_config(path)
    except CheckpointError as err:
        raise CheckpointError(f"{err}; accepted: {ACCEPTED}") from None
    return Loaded(model, "torch", path, config, threads, torch_module=model)


def _export_identity(export_dir: Path) -> dict:
    report = export_dir / "export.json"
    try:
        return json.loads(report.read_text(encoding="utf-8")).get("identity") or {}
    except ValueError as err:
        raise CheckpointError(f"{report}: not readable JSON ({err})") from None


def _onnx_export(export_dir: Path, quantized: bool, num_threads, thresholds, expected=None,
                 expected_from="") -> Loaded:
    from ssrfnet.export.runtime import OnnxEmbedder

    name = "model.int8.onnx" if quantized else "model.onnx"
    if not (export_dir / "export.json").is_file():
        raise CheckpointError(f"{export_dir}/export.json: not found, the export is incomplete (run stage 6, "
                              "ssrfnet-export, again)")
    if not (export_dir / name).is_file():
        hint = " (export with --quantize int8)" if quantized else " (run stage 6: ssrfnet-export)"
        raise CheckpointError(f"{export_dir}: no {name}{hint}")
    identity = expected or _export_identity(export_dir)
    expected_from = expected_from or str(export_dir / "export.json")
    embedder = OnnxEmbedder(export_dir / name, num_threads=num_threads, expected=identity,
                            quantized=quantized, expected_from=expected_from)
    config = json.loads(embedder.meta["model_config"]) if embedder.meta["model_config"] else None
    return Loaded(embedder, "onnxruntime", export_dir, config, thresholds)


class TorchScriptEmbedder:
    """An export's model.pt (TorchScript) with the embed_dim and crop_samples its export.json records."""

    def __init__(self, export_dir: Path):
        import torch

        report = json.loads((export_dir / "export.json").read_text(encoding="utf-8"))
        self.module = torch.jit.load(str(export_dir / "model.pt"), map_location="cpu")
        self.embed_dim, self.crop_samples = int(report["embed_dim"]), report.get("input_samples")

    def eval(self):
        self.module.eval()
        return self

    def to(self, device):
        self.module.to(device)
        return self

    def __call__(self, wav):
        return self.module(wav)


def _export_of(model_file: Path, export_dir: Path, quantized: bool, num_threads, thresholds) -> Loaded:
    """The export beside a model file, checked to have been exported from that very file."""
    if not export_dir.is_dir():
        raise CheckpointError(f"{export_dir}: not found; backend='onnxruntime' runs the exported graph of "
                              f"{model_file} (run stage 6: ssrfnet-export)")
    from ssrfnet.export.metadata import model_identity

    reference = _torch_checkpoint(model_file, thresholds)
    expected = model_identity(reference.torch_module, reference.config)
    expected = {k: expected[k] for k in ("weights_sha256", "embed_dim", "input_samples")}
    return _onnx_export(export_dir, quantized, num_threads, thresholds, expected, str(model_file))


def _experiment_dir(path: Path, backend: str, quantized: bool, num_threads) -> Loaded:
    """exp/<name>: final.pt for torch; its export/ (checked to come from final.pt) for onnxruntime."""
    thresholds = [path / "scores" / "threshold.json"]
    if backend == "torch":
        return _torch_checkpoint(path / "final.pt", thresholds)
    return _export_of(path / "final.pt", path / "export", quantized, num_threads, thresholds)


def open_model(source, backend: str = "torch", quantized: bool = False,
               num_threads: int | None = None) -> Loaded:
    """Find out what `source` is (see ACCEPTED) and load it for `backend`."""
    from ssrfnet.models.official_files import is_pair_dir, model_source_dir
    from ssrfnet.models.pretrained import is_pretrained_dir, load_pretrained

    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if quantized and backend != "onnxruntime":
        raise InputError("quantized=True runs model.int8.onnx: use backend='onnxruntime'")
    path = Path(source)
    if not path.exists() or (path.is_dir() and is_pair_dir(path)):
        # a released SSRFNet pair ('a.pt,b.pt' or its directory) or a released ReDimNet name
        if backend != "torch":
            raise InputError(f"{source}: official weights run with backend='torch' (export them first)")
        return _torch_checkpoint(source, [model_source_dir(source) / "scores" / "threshold.json"])
    if path.is_dir():
        if is_pretrained_dir(path):
            if backend != "torch":
                raise InputError(f"{path}: a save_pretrained directory runs with backend='torch'")
            model, config = load_pretrained(path)
            return Loaded(model, "torch", path, config, [path / "threshold.json"], torch_module=model)
        if (path / "export.json").is_file() or (path / "model.onnx").is_file():
            thresholds = [path / "threshold.json", path.parent / "scores" / "threshold.json"]
            if backend == "onnxruntime":
                return _onnx_export(path, quantized, num_threads, thresholds)
            if not (path / "model.pt").is_file() or not (path / "export.json").is_file():
                raise CheckpointError(f"{path}: no model.pt + export.json for backend='torch' "
                                      "(use backend='onnxruntime' for model.onnx)")
            return Loaded(TorchScriptEmbedder(path), "torch", path, None, thresholds)
        if (path / "final.pt").is_file():
            return _experiment_dir(path, backend, quantized, num_threads)
        raise CheckpointError(f"{path}: a directory without a model; accepted: {ACCEPTED}")
    thresholds = [path.parent / "scores" / "threshold.json", path.parent / "threshold.json"]
    if path.suffix == ".onnx":
        if backend != "onnxruntime":
            raise InputError(f"{path}: an ONNX file runs with backend='onnxruntime'")
        from ssrfnet.export.runtime import OnnxEmbedder

        embedder = OnnxEmbedder(path, num_threads=num_threads, quantized=True if quantized else None)
        config = json.loads(embedder.meta["model_config"]) if embedder.meta["model_config"] else None
        return Loaded(embedder, "onnxruntime", path, config, [path.parent / "threshold.json"])
    if backend == "onnxruntime":  # the export stage 6 wrote beside this model file
        return _export_of(path, path.parent / "export", quantized, num_threads, thresholds)
    return _torch_checkpoint(path, thresholds)


def load_model(source, *, device: str = "cpu", backend: str = "torch", quantized: bool = False,
               num_threads: int | None = None, threshold=None, protocol: str | None = None,
               num_crops: int = 10, crop_seconds: float = 3.0, batch_size: int = 40,
               full_utt: bool = True, calibration=None) -> SpeakerModel:
    """Load a speaker model for embedding, scoring and verification (see ssrfnet.load_model)."""
    if num_threads is not None and num_threads > 0 and backend == "torch":
        import torch

        torch.set_num_threads(int(num_threads))
    loaded = open_model(source, backend, quantized, num_threads)
    return SpeakerModel(loaded, device=device, num_crops=num_crops, crop_seconds=crop_seconds,
                        batch_size=batch_size, full_utt=full_utt, protocol=protocol, threshold=threshold,
                        calibration=calibration)


PRETRAINED_FILES = ["config.json", "model.safetensors", "threshold.json", "mean_vec.npy", "README.md"]


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().upper() in ("1", "ON", "YES", "TRUE")


def download_pretrained(repo_id: str, revision: str | None = None, cache_dir=None) -> Path:
    """A Hugging Face model repository (config.json + model.safetensors) in the local cache; with
    HF_HUB_OFFLINE=1 only the cache is looked at."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

    offline = _hub_offline()
    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                      local_files_only=offline, allow_patterns=PRETRAINED_FILES))
    except HFValidationError:
        raise CheckpointError(f"{repo_id}: neither an existing path nor a Hugging Face repository id "
                              f"(owner/name); accepted: {ACCEPTED}") from None
    except LocalEntryNotFoundError:
        why = ("HF_HUB_OFFLINE=1: download it once with HF_HUB_OFFLINE=0, or pass a local directory"
               if offline else "and the Hub cannot be reached")
        raise CheckpointError(f"{repo_id}: not in the Hugging Face cache, {why}") from None
    except HfHubHTTPError as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(f"{repo_id}: cannot download from the Hugging Face Hub ({first})") from None


def from_pretrained(name_or_path, *, revision: str | None = None, cache_dir=None, **options) -> SpeakerModel:
    """load_model on a save_pretrained directory, or on a Hugging Face repository id fetched with
    huggingface_hub (pushing one is `huggingface_hub.upload_folder` on a save_pretrained directory)."""
    path = Path(name_or_path)
    if path.exists():
        return load_model(path, **options)
    return load_model(download_pretrained(str(name_or_path), revision, cache_dir), **options)


def save_pretrained(model, directory: str | os.PathLike, config: dict | None = None) -> Path:
    """config.json + model.safetensors (+ threshold.json) of a SpeakerModel, or of an nn.Module and its
    model config."""
    if isinstance(model, SpeakerModel):
        return model.save_pretrained(directory)
    from ssrfnet.models.pretrained import save_pretrained as save_module

    if config is None:
        raise InputError("save_pretrained of an nn.Module needs its model config (config=...)")
    return save_module(model, config, directory)
