"""The frozen WavLM teacher for one-stage knowledge distillation, and a small random WavLM for tests.

`WavLMTeacher` wraps `transformers.WavLMModel` (as the official code does, not s3prl): it is loaded from a
hub id or from a local directory written by `save_pretrained`, frozen, kept in eval mode even when a parent
module is put in training mode (no dropout, LayerDrop or time masking), and run under
`torch.inference_mode()` with `output_hidden_states=True`. Its forward returns the requested hidden states
stacked as (B, len(layers), T, H), with the transformers indexing: hs[0] is the input of transformer layer 1
(CNN features projected and given the convolutional position embedding), hs[i] the output of layer i, and for
the stable-layer-norm models (WavLM Large) hs[num_layers] is the final LayerNorm output. The waveform is used
as is: the official code never calls the feature extractor, so there is no per-utterance normalisation.

`make_random_wavlm` writes a small randomly initialised WavLM with the Large model's structure (LayerNorm conv
front end with bias, stable layer norm) so that the mini recipe and the tests need no download.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ssrfnet.errors import ConfError, InputError, SSRFNetError

DEFAULT_LAYERS = (8, 16, 24)

# Config keys that define a random teacher; a directory holding the same values is reused as is.
_RANDOM_KEYS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "conv_dim",
    "feat_extract_norm",
    "conv_bias",
    "do_stable_layer_norm",
)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _looks_like_path(name: str) -> bool:
    """True for something meant as a filesystem path rather than a hub id ('org/name')."""
    return (
        name.startswith(("/", "./", "../", "~"))
        or name in (".", "..")
        or name.count("/") > 1
        or Path(name).exists()
    )


class TeacherNotFoundError(SSRFNetError, FileNotFoundError):
    """The --teacher hub id or directory cannot be loaded."""


class TeacherConfigError(SSRFNetError, ValueError):
    """A teacher configuration that is not WavLM's."""


class TeacherExistsError(SSRFNetError, FileExistsError):
    """A directory that should receive a random teacher already holds something else."""


def _not_found(name: str, cause: str = "") -> TeacherNotFoundError:
    msg = (
        f"teacher {name!r} not found: give a hub id with network access or a local directory saved with "
        "save_pretrained (python -m ssrfnet.bin.make_random_teacher --out DIR writes a small random one)"
    )
    if cause:
        msg += f" [{cause}]"
    if not _looks_like_path(name) and (_env_flag("HF_HUB_OFFLINE") or _env_flag("TRANSFORMERS_OFFLINE")):
        msg += ("; HF_HUB_OFFLINE=1 is set (path.sh sets it so that compute nodes never try the network): "
                "download the model once with HF_HUB_OFFLINE=0, or point --teacher at a local copy")
    return TeacherNotFoundError(msg)


def load_wavlm(name_or_path: str | os.PathLike, local_files_only: bool | None = None):
    """`transformers.WavLMModel.from_pretrained` with offline detection and a clear error when missing."""
    from transformers import WavLMModel

    name = os.fspath(name_or_path)
    expanded = os.path.expanduser(name)
    is_dir = os.path.isdir(expanded)
    if is_dir:
        name = expanded
        if not (Path(name) / "config.json").is_file():
            raise _not_found(name, "the directory has no config.json")
        read_wavlm_config(Path(name) / "config.json")  # a teacher directory of another model is refused
    elif _looks_like_path(name):
        raise _not_found(name, "no such directory")
    if local_files_only is None:
        local_files_only = is_dir or _env_flag("HF_HUB_OFFLINE") or _env_flag("TRANSFORMERS_OFFLINE")
    try:
        model = WavLMModel.from_pretrained(name, local_files_only=local_files_only)
    except (OSError, ValueError) as err:
        raise _not_found(name, str(err).splitlines()[0] if str(err) else type(err).__name__) from err
    return model


class WavLMTeacher(nn.Module):
    """Frozen WavLM returning selected hidden states: forward(wav (B, N)) -> (B, len(layers), T, H) float32.

    layers: indices into the transformers hidden-state tuple (0..num_layers); None returns all of them.
    bf16: run the model under bfloat16 autocast when the input is on CUDA (output is cast back to float32).
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike,
        layers: Sequence[int] | None = DEFAULT_LAYERS,
        bf16: bool = False,
        local_files_only: bool | None = None,
    ):
        super().__init__()
        self.name_or_path = os.fspath(name_or_path)
        self.model = load_wavlm(name_or_path, local_files_only=local_files_only)
        config = self.model.config
        self.hidden_size = int(config.hidden_size)
        self.num_layers = int(config.num_hidden_layers)
        if layers is None:
            self.layers = tuple(range(self.num_layers + 1))
        else:
            self.layers = tuple(int(i) for i in layers)
            if not self.layers:
                raise ConfError("--teacher-layers must not be empty (use None for all hidden states)")
            bad = [i for i in self.layers if not 0 <= i <= self.num_layers]
            if bad:
                raise ConfError(
                    f"teacher layers {bad} are out of range: {self.name_or_path!r} has {self.num_layers} "
                    f"transformer layers, so hidden-state indices run from 0 to {self.num_layers}"
                )
        self.bf16 = bool(bf16)
        self.model.requires_grad_(False)
        self.model.eval()
        self.training = False

    @property
    def num_outputs(self) -> int:
        return len(self.layers)

    def train(self, mode: bool = True) -> WavLMTeacher:
        """The teacher always stays in eval mode (no dropout, LayerDrop or SpecAugment-style masking)."""
        return super().train(False)

    def extra_repr(self) -> str:
        return f"name_or_path={self.name_or_path!r}, layers={self.layers}, bf16={self.bf16}"

    def num_frames(self, num_samples: int) -> int:
        """Frames the CNN front end produces for a waveform of `num_samples` samples."""
        length = torch.tensor(num_samples)
        return int(self.model._get_feat_extract_output_lengths(length))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() == 1:
            wav = wav.unsqueeze(0)
        if wav.dim() != 2:
            raise InputError(f"expected a waveform batch (B, N), got {tuple(wav.shape)}")
        param = next(self.model.parameters())
        autocast = (
            torch.autocast(device_type="cuda", dtype=torch.bfloat16)
            if self.bf16 and wav.is_cuda
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            wav = wav.detach().to(device=param.device, dtype=param.dtype)
            out = self.model(wav, output_hidden_states=True)
            hidden = torch.stack([out.hidden_states[i] for i in self.layers], dim=1).float()
        # Inference tensors cannot be saved for backward; a clone outside inference mode is a normal tensor,
        # so the KD loss can use the targets in its autograd graph.
        return hidden.clone()


def read_wavlm_config(path: str | os.PathLike):
    """A WavLMConfig from a config.json (e.g. conf/wavlm_large.json); a non-WavLM config is refused."""
    from transformers import WavLMConfig

    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            fields = json.load(handle)
    except (OSError, ValueError) as err:
        raise TeacherConfigError(f"{path}: not a readable JSON model configuration ({err})") from err
    if not isinstance(fields, dict) or fields.get("model_type") != "wavlm":
        found = fields.get("model_type") if isinstance(fields, dict) else type(fields).__name__
        raise TeacherConfigError(f"{path}: model_type {found!r}, not a WavLM configuration ('wavlm')")
    return WavLMConfig.from_dict(fields)


def _random_config(hidden_size: int, num_layers: int, num_heads: int, intermediate_size: int, conv_dim):
    from transformers import WavLMConfig

    channels = 512 if conv_dim is None else int(conv_dim)
    return WavLMConfig(
        hidden_size=int(hidden_size),
        num_hidden_layers=int(num_layers),
        num_attention_heads=int(num_heads),
        intermediate_size=int(intermediate_size),
        conv_dim=(channels,) * 7,
        feat_extract_norm="layer",
        conv_bias=True,
        do_stable_layer_norm=True,
        num_conv_pos_embedding_groups=16 if hidden_size % 16 == 0 else 1,
    )


def _same_config(directory: Path, wanted: dict) -> bool:
    try:
        with open(directory / "config.json", encoding="utf-8") as handle:
            have = json.load(handle)
    except (OSError, ValueError):
        return False
    for key in _RANDOM_KEYS:
        a, b = have.get(key), wanted.get(key)
        if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
            a, b = list(a or []), list(b or [])
        if a != b:
            return False
    return True


def make_random_wavlm(
    out_dir: str | os.PathLike,
    hidden_size: int = 256,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_size: int = 1024,
    seed: int = 0,
    conv_dim: int | None = None,
    overwrite: bool = False,
    config_file: str | os.PathLike | None = None,
) -> Path:
    """Save a randomly initialised WavLM (Large-style structure) to `out_dir`; return the directory.

    `config_file`: a WavLM config.json (e.g. conf/wavlm_large.json, the published WavLM Large configuration)
    giving the whole structure; the size arguments are then not used.

    The write is atomic (a temporary directory beside `out_dir`, then a rename). If `out_dir` already holds a
    model with the same structure it is left alone; a different one is an error unless `overwrite`.
    The weights depend only on the arguments (the global RNG state is neither used nor changed).
    """
    from transformers import WavLMModel

    if config_file:
        config = read_wavlm_config(config_file)
    elif hidden_size % num_heads:
        raise ConfError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
    else:
        config = _random_config(hidden_size, num_layers, num_heads, intermediate_size, conv_dim)
    out = Path(out_dir)
    if out.exists():
        if _same_config(out, config.to_dict()):
            return out
        if not overwrite:
            raise TeacherExistsError(
                f"{out} exists and does not hold a random WavLM with this configuration; remove it or pass "
                "overwrite=True (--overwrite)"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = WavLMModel(config)
        model.eval()
        model.save_pretrained(tmp)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.rename(out, old / "model")
        try:
            os.rename(tmp, out)
        except OSError:
            if old is None and _same_config(out, config.to_dict()):  # another process made it meanwhile
                shutil.rmtree(tmp, ignore_errors=True)
                return out
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
