"""ONNX Runtime backend: an exported graph (`model.onnx` or `model.int8.onnx`) as an embedding model.

`OnnxEmbedder` honours the interface `ssrfnet.extract.EmbeddingExtractor` expects of a model (embed_dim,
crop_samples, eval(), to(device), calling it on a (B, N) float32 16 kHz tensor returns (B, embed_dim)), so
stage 4, the verify CLI and the Python API run the graph through the same crop and batching code as PyTorch.
The file's ssrfnet metadata (`ssrfnet.export.metadata`) is checked before the session is built.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ssrfnet.errors import InputError
from ssrfnet.export.errors import OnnxModelError
from ssrfnet.export.metadata import check_identity, metadata_of


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise OnnxModelError("the onnxruntime backend needs the onnxruntime package: "
                             "pip install 'ssrfnet[export]'") from err
    return onnxruntime


def session_options(num_threads: int | None = None):
    """CPU session options: `num_threads` intra-op threads (default torch.get_num_threads(), so that one
    --num-threads option sets both backends), sequential execution, all graph optimisations."""
    ort = import_onnxruntime()
    if num_threads is None or num_threads <= 0:
        import torch

        num_threads = torch.get_num_threads()
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(num_threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def open_session(path: str | os.PathLike, num_threads: int | None = None):
    """An onnxruntime CPU InferenceSession; unreadable files raise OnnxModelError naming the path."""
    ort = import_onnxruntime()
    path = Path(path)
    if not path.is_file():
        raise OnnxModelError(f"{path}: no such ONNX file")
    try:
        return ort.InferenceSession(str(path), session_options(num_threads),
                                    providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own pybind exception types
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise OnnxModelError(f"{path}: not a readable ONNX model ({first[:200]})") from err


class OnnxEmbedder:
    """An ssrfnet ONNX export run by onnxruntime, callable like the PyTorch model it came from."""

    def __init__(self, path: str | os.PathLike, *, num_threads: int | None = None,
                 expected: dict | None = None, expected_from: str = "", quantized: bool | None = None):
        """`expected`: identity keys the file must carry (e.g. export.json's `identity`, from
        `expected_from`); `quantized`: require (True) or refuse (False) an int8 graph."""
        self.path = Path(path)
        self.session = open_session(self.path, num_threads)
        self.meta = metadata_of(self.session.get_modelmeta().custom_metadata_map, self.path)
        if expected:
            check_identity(self.meta, expected, self.path, expected_from or "the expected model")
        is_int8 = self.meta["quantization"] != "none"
        if quantized is not None and quantized != is_int8:
            state = "an int8 quantized" if is_int8 else "an fp32 (not quantized)"
            raise OnnxModelError(f"{self.path}: is {state} graph, quantized={quantized} was asked for")
        self._check_io()
        self.embed_dim = self.meta["embed_dim"]
        self.crop_samples = self.meta["input_samples"] or None
        self.num_threads = self.session.get_session_options().intra_op_num_threads

    def _check_io(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        names = ([i.name for i in inputs], [o.name for o in outputs])
        if names != (["wav"], ["embedding"]) or len(inputs[0].shape) != 2:
            raise OnnxModelError(f"{self.path}: graph inputs/outputs are {names}, expected (['wav'], "
                                 "['embedding']) with wav (batch, samples)")
        dim = outputs[0].shape[-1]
        if isinstance(dim, int) and dim != self.meta["embed_dim"]:
            raise OnnxModelError(f"{self.path}: graph output has {dim} values, its metadata says "
                                 f"embed_dim {self.meta['embed_dim']}")

    def eval(self):
        return self

    def to(self, device):
        if str(device) != "cpu":
            raise InputError(f"the onnxruntime backend runs on the CPU only, not on {device}")
        return self

    def run(self, wav: np.ndarray) -> np.ndarray:
        """(B, N) float32 16 kHz samples -> (B, embed_dim) float32."""
        wav = np.ascontiguousarray(wav, dtype=np.float32)
        if wav.ndim != 2:
            raise InputError(f"{self.path}: expected a (batch, samples) waveform batch, got {wav.shape}")
        if self.crop_samples is not None and wav.shape[1] != self.crop_samples:
            raise InputError(f"{self.path}: this graph takes crops of exactly {self.crop_samples} samples at "
                             f"16 kHz, got {wav.shape[1]}")
        return self.session.run(["embedding"], {"wav": wav})[0]

    def __call__(self, wav):
        import torch

        array = wav.detach().cpu().numpy() if isinstance(wav, torch.Tensor) else wav
        return torch.from_numpy(self.run(array))

    def __repr__(self) -> str:
        return (f"OnnxEmbedder({str(self.path)!r}, embed_dim={self.embed_dim}, "
                f"crop_samples={self.crop_samples}, quantization={self.meta['quantization']!r}, "
                f"threads={self.num_threads})")
