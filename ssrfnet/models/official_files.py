"""Reading model files without running pickled code, and what a `--model` argument names.

A model argument is one of
  - a file: our model file, an IDRnD ReDimNet hub file, an official SSRFNet checkpoint (Lightning or not);
  - a directory holding the released SSRFNet pair (one `*sv_mixer*.pt` and one `*classifier*.pt`);
  - two files separated by a comma, `sv_mixer.pt,classifier.pt` (either order; an existing file whose
    name has a comma is taken as one file);
  - a released ReDimNet name such as `b2-vox2-ft_lm`, read from torch.hub's cache
    (`$TORCH_HOME/hub/checkpoints/b2-vox2-ft_lm.pt`, where torch.hub.load leaves it) when no such file exists.

Every file is read with torch.load(weights_only=True): tensors and plain Python values only, plus the
few harmless value types that Lightning checkpoints hold (`_lightning_safe_globals`). Anything else is
refused with a one-line CheckpointError naming the file and the refused types; nothing in the file runs.
"""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import NamedTuple

import torch

from ssrfnet.errors import CheckpointError
from ssrfnet.models.official_keys import first_items
from ssrfnet.models.official_redimnet import HUB_URL, canonical_hub_model, parse_hub_filename

_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
_ZIP_MAGIC = b"PK\x03\x04"


class ModelFile(NamedTuple):
    """One loaded file of a model argument: `where` for messages, `name` for the hub naming check."""

    where: str
    name: str | None
    ckpt: dict


def _lightning_safe_globals() -> list:
    """The non-tensor types a Lightning checkpoint may hold, each mapped to an inert Python type.

    AttributeDict (Lightning's hyper-parameter container) becomes a plain dict; argparse namespaces and
    paths (hyper-parameters taken from a command line), numpy scalars (callback scores, metrics) stay
    plain values. Paths become pure paths, so a Windows path also loads on Linux and vice versa.
    """
    import numpy as np

    entries: list = [(dict, f"{module}.AttributeDict") for module in (
        "lightning.fabric.utilities.data", "lightning_fabric.utilities.data",
        "pytorch_lightning.utilities.parsing")]
    entries.append(argparse.Namespace)
    for module in ("pathlib", "pathlib._local"):
        for name, pure in (("PosixPath", PurePosixPath), ("PurePosixPath", PurePosixPath),
                           ("WindowsPath", PureWindowsPath), ("PureWindowsPath", PureWindowsPath)):
            entries.append((pure, f"{module}.{name}"))
    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    entries += [(scalar, "numpy._core.multiarray.scalar"), (scalar, "numpy.core.multiarray.scalar"), np.dtype]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25 pickles dtypes as instances of these classes
    entries += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith("DType")] if dtypes else []
    return entries


def _refused_types(path: Path) -> list[str]:
    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not a zip checkpoint, or unreadable: the caller falls back to torch's message
        return []


def _first_line(err: Exception) -> str:
    """The informative line of torch's message (after 'WeightsUnpickler error:' when it has one)."""
    text = str(err)
    marker = text.find("WeightsUnpickler error:")
    if marker >= 0:
        text = text[marker + len("WeightsUnpickler error:"):]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _load_error(path: Path, is_zip: bool, err: Exception) -> CheckpointError:
    if isinstance(err, pickle.UnpicklingError) and is_zip:
        refused = _refused_types(path)
        if refused:
            return CheckpointError(
                f"{path}: refused to unpickle {len(refused)} type(s) that are neither weights nor plain "
                f"values ({first_items(refused)}); loading them would run code from the file")
        return CheckpointError(f"{path}: refused by the weights-only loader ({_first_line(err)})")
    return CheckpointError(f"{path}: not a readable PyTorch checkpoint, truncated or not written by "
                           f"torch.save ({_first_line(err)})")


def read_torch_file(path: str | os.PathLike) -> dict:
    """torch.load(weights_only=True, mmap for zip files) of one file; CheckpointError naming it otherwise.

    Memory-mapping means a Lightning checkpoint's frozen teacher (about 1.9 GB) is never read into memory.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    with open(path, "rb") as handle:
        is_zip = handle.read(4) == _ZIP_MAGIC
    with torch.serialization.safe_globals(_lightning_safe_globals()):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
        except Exception as err:  # torch raises a zoo of types (UnpicklingError, RuntimeError, EOFError, ...)
            raise _load_error(path, is_zip, err) from err
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a checkpoint dict, got {type(obj).__name__}")
    return obj


def _pair_candidates(directory: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(checkpoint files, those named like the SV-Mixer half, those named like the classifier half)."""
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in _SUFFIXES)
    student = [p for p in files if "sv_mixer" in p.name.lower() or "svmixer" in p.name.lower()]
    classifier = [p for p in files if "classifier" in p.name.lower()]
    return files, student, classifier


def is_pair_dir(directory: Path) -> bool:
    """True for a directory with files named like both halves of the released SSRFNet pair."""
    _, student, classifier = _pair_candidates(directory)
    return bool(student and classifier)


def _pair_in_directory(directory: Path) -> list[Path]:
    files, student, classifier = _pair_candidates(directory)
    if len(student) == 1 and len(classifier) == 1:
        return [student[0], classifier[0]]
    found = first_items([p.name for p in files]) or "no .pt/.pth/.ckpt files"
    raise CheckpointError(f"{directory}: a model directory must hold the released SSRFNet pair, exactly one "
                          f"*sv_mixer*.pt and one *classifier*.pt; found {found}")


def _hub_cache_file(path: Path) -> Path | None:
    """A released ReDimNet name ('b2-vox2-ft_lm') -> its file in torch.hub's cache, where torch.hub.load
    put it; None for other names, CheckpointError (with the download address) when it is not there."""
    name = path.name if path.name.endswith(".pt") else path.name + ".pt"
    hub = parse_hub_filename(name) if len(path.parts) == 1 else None
    if hub is None or hub.old_naming:
        return None
    stem = f"{canonical_hub_model(hub, str(path))}-{hub.dataset}-{hub.train_type}"  # unknown model: an error
    cached = Path(torch.hub.get_dir()) / "checkpoints" / f"{stem}.pt"
    if not cached.is_file():
        raise CheckpointError(f"{path}: no such file, nor {cached} in torch.hub's cache; the released "
                              f"file is {HUB_URL.format(name=stem)}")
    return cached


def model_source_paths(source: str | os.PathLike | list | tuple) -> list[Path]:
    """The file(s) a model argument names (see the module docstring); CheckpointError when none exist."""
    if isinstance(source, (list, tuple)):
        bad = [type(p).__name__ for p in source if not isinstance(p, (str, os.PathLike))]
        if bad or not source:
            raise CheckpointError(f"a model argument list must hold file paths, got {bad or 'none'}")
        return [Path(p) for p in source]
    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        return _pair_in_directory(path)
    text = os.fspath(source)
    if "," in text:
        return [Path(p.strip()) for p in text.split(",") if p.strip()]
    cached = _hub_cache_file(path)
    if cached is not None:
        return [cached]
    raise CheckpointError(f"{path}: no such model file or directory")


def model_source_dir(source: str | os.PathLike | list | tuple) -> Path:
    """The directory a model argument lives in: a file's folder, the directory itself, the pair's folder."""
    if isinstance(source, (list, tuple)):
        return Path(source[0]).parent
    path = Path(source)
    if path.is_dir():
        return path
    if not path.exists() and "," in os.fspath(source):
        return Path(os.fspath(source).split(",")[0].strip()).parent
    return path.parent


def read_model_source(source: str | os.PathLike | list | tuple) -> list[ModelFile]:
    """Load every file a model argument names, safely (read_torch_file)."""
    return [ModelFile(str(p), p.name, read_torch_file(p)) for p in model_source_paths(source)]
