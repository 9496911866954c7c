"""SSRFNet: Stage-wise SV-Mixer and ReDimNet Fusion Network for speaker verification.

The Python API (importing `ssrfnet` stays cheap: torch and the models load on the first call)::

    import ssrfnet

    model = ssrfnet.load_model("exp/ssrfnet")          # or final.pt, an export dir, an official checkpoint
    emb = model.embed("a.wav")                          # (192,) numpy; any sample rate, mono-mixed
    crops = model.embed("a.wav", crops=True)            # (10, 192): the official 10 x 3 s crops
    embs = model.embed_batch(["a.wav", wave, tensor], sr=8000)
    score = model.similarity("a.wav", "b.wav")          # mean of the 10 x 10 crop cosines
    result = model.verify("a.wav", "b.wav")             # .same_speaker, .llr (calibrated) or .score
    fast = ssrfnet.load_model("exp/ssrfnet/export", backend="onnxruntime", quantized=True)
    ssrfnet.save_pretrained(model, "my-model")          # config.json + model.safetensors
    model = ssrfnet.from_pretrained("my-model")         # or a Hugging Face repository id

Errors a user can cause raise `ssrfnet.SSRFNetError` subclasses with a one-line message.
"""

from ssrfnet.errors import SSRFNetError

__version__ = "0.1.0"
__all__ = ["SSRFNetError", "from_pretrained", "load_model", "save_pretrained"]


def load_model(source, *, device: str = "cpu", backend: str = "torch", quantized: bool = False,
               num_threads: int | None = None, threshold=None, protocol: str | None = None,
               num_crops: int = 10, crop_seconds: float = 3.0, batch_size: int = 40, full_utt: bool = True,
               calibration=None):
    """Load a speaker model -> `ssrfnet.api.SpeakerModel` (embed, embed_batch, similarity, verify).

    source: an ssrfnet model file (e.g. exp/ssrfnet/final.pt), an official ReDimNet hub / SSRFNet checkpoint,
        an experiment directory (final.pt; its export/ for onnxruntime), an export directory (export.json +
        model.onnx / model.int8.onnx / model.pt, stage 6), an ssrfnet ONNX file, or a save_pretrained
        directory.
    backend: 'torch' (PyTorch; an export directory runs its TorchScript model.pt) or 'onnxruntime' (the
        exported graph, checked to belong to the model it claims; for a model file, the export/ stage 6
        wrote beside it); quantized=True runs model.int8.onnx.
    num_threads: CPU threads (torch.set_num_threads for torch, the session's threads for onnxruntime;
        default torch.get_num_threads()).
    threshold: decision threshold for verify, or a threshold.json path (default: the calibrated one stored
        with the model, i.e. stage 5's scores/threshold.json or the export's threshold.json).
    protocol: 'crops' (official: mean of the num_crops x num_crops crop cosines) or 'utt' (cosine of the
        utterance embeddings); default the threshold's protocol, else 'crops'.
    num_crops, crop_seconds, batch_size, full_utt: the stage-4 extraction options (--eval-*).
    calibration: the score calibration verify decides with (an LLR against log((1-p)/p) at a stated target
        prior): default the one stage 5 stored with the model (scores/calibration/<protocol>_qmf.json) unless
        a threshold is given; a calibration JSON path; False for none (the cosine threshold).
    """
    from ssrfnet.api import load_model as _load_model

    return _load_model(source, device=device, backend=backend, quantized=quantized, num_threads=num_threads,
                       threshold=threshold, protocol=protocol, num_crops=num_crops, crop_seconds=crop_seconds,
                       batch_size=batch_size, full_utt=full_utt, calibration=calibration)


def from_pretrained(name_or_path, *, revision: str | None = None, cache_dir=None, **options):
    """load_model on a save_pretrained directory or a Hugging Face repository id (huggingface_hub; with
    HF_HUB_OFFLINE=1 only the local cache). `options` are load_model's."""
    from ssrfnet.api import from_pretrained as _from_pretrained

    return _from_pretrained(name_or_path, revision=revision, cache_dir=cache_dir, **options)


def save_pretrained(model, directory, config: dict | None = None):
    """Write config.json + model.safetensors (+ threshold.json) of a loaded model (or of an nn.Module
    with its model `config`) to `directory`, for from_pretrained and the Hugging Face Hub."""
    from ssrfnet.api import save_pretrained as _save_pretrained

    return _save_pretrained(model, directory, config)
