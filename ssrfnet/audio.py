"""Read `wav.scp` entries: a plain audio path, or a Kaldi pipe (`command ... |`) that writes a wav.

Everything comes back as float32 mono at the expected sample rate; any problem raises AudioError
naming where the entry came from (data directory file and utterance) so a user can find it.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess

import numpy as np
import soundfile as sf

from ssrfnet.errors import SSRFNetError
from ssrfnet.fileio import atomic_write

SAMPLE_RATE = 16000


class AudioError(SSRFNetError, RuntimeError):
    pass


def is_pipe(entry: str) -> bool:
    return entry.rstrip().endswith("|")


def _run_pipe(entry: str, where: str) -> bytes:
    command = entry.rstrip()[:-1]
    proc = subprocess.run(command, shell=True, capture_output=True, check=False)
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        detail = " ".join(message)
        raise AudioError(f"{where}: pipe command failed (exit {proc.returncode}): {command!r}: {detail}")
    if not proc.stdout:
        raise AudioError(f"{where}: pipe command produced no output: {command!r}")
    return proc.stdout


def _parse_streamed_wav(data: bytes, where: str) -> tuple[np.ndarray, int]:
    """Decode PCM/float wav bytes whose size fields may be unset (as ffmpeg writes to a pipe)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"{where}: pipe output is not a RIFF/WAVE stream")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[body : body + 16])
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError(f"{where}: wav stream has a data chunk before its fmt chunk")
            end = len(data) if size in (0, 0xFFFFFFFF) or body + size > len(data) else body + size
            codec, channels, rate, _, _, bits = fmt
            codec_dtypes = {(1, 16): "<i2", (1, 32): "<i4", (3, 32): "<f4"}
            if (codec, bits) not in codec_dtypes and codec != 0xFFFE:
                raise AudioError(f"{where}: unsupported wav encoding (format {codec}, {bits} bits)")
            dtype = codec_dtypes.get((codec, bits), "<i2" if bits == 16 else "<f4")
            raw = data[body:end]
            raw = raw[: len(raw) - len(raw) % (np.dtype(dtype).itemsize * channels)]
            samples = np.frombuffer(raw, dtype=dtype).reshape(-1, channels)
            if samples.dtype.kind == "i":
                samples = samples.astype(np.float32) / float(2 ** (bits - 1))
            return samples.astype(np.float32), rate
        pos = body + size + (size & 1)
    raise AudioError(f"{where}: wav stream has no data chunk")


def read_audio(
    entry: str,
    *,
    sample_rate: int = SAMPLE_RATE,
    where: str = "",
    start: int = 0,
    frames: int = -1,
) -> np.ndarray:
    """Return float32 mono samples for a wav.scp value (path or pipe); `start`/`frames` select a span."""
    samples = read_audio_channels(entry, sample_rate=sample_rate, where=where, start=start, frames=frames)
    mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32)


def read_audio_checked(entry: str, *, where: str = "", sample_rate: int = SAMPLE_RATE,
                       crop_samples: int | None = None) -> tuple[np.ndarray, list[str]]:
    """(float32 mono samples, notes) of a whole wav.scp entry for extraction: NaN or Inf samples are an
    AudioError naming `where` (the utterance), odd but usable input gives notes (see `audio_notes`)."""
    samples = read_audio_channels(entry, sample_rate=sample_rate, where=where)
    bad = ~np.isfinite(samples)
    if bad.any():
        raise AudioError(f"{where or entry}: audio contains NaN or Inf samples (first at sample "
                         f"{int(np.argmax(bad.any(axis=1)))})")
    mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1)
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    return mono, audio_notes(mono, samples.shape[1], crop_samples)


def audio_notes(mono: np.ndarray, channels: int = 1, crop_samples: int | None = None) -> list[str]:
    """What is odd but usable about a recording: several channels (mixed down), silence (every sample 0),
    shorter than one crop (repeated end to end to fill it)."""
    notes = []
    if channels > 1:
        notes.append(f"{channels} channels mixed down to mono")
    if not np.any(mono):
        notes.append("silent (every sample is 0)")
    if crop_samples and len(mono) < crop_samples:
        notes.append(f"{len(mono) / SAMPLE_RATE:.2f} s, shorter than one {crop_samples / SAMPLE_RATE:g} s "
                     "crop (repeated end to end)")
    return notes


def read_audio_channels(
    entry: str,
    *,
    sample_rate: int = SAMPLE_RATE,
    where: str = "",
    start: int = 0,
    frames: int = -1,
) -> np.ndarray:
    """(samples, channels) float32 of a wav.scp value (path or pipe); `start`/`frames` select a span."""
    where = where or entry
    entry = entry.strip()
    if is_pipe(entry):
        data = _run_pipe(entry, where)
        try:
            samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError):
            samples, rate = _parse_streamed_wav(data, where)
        stop = None if frames < 0 else start + frames
        samples = samples[start:stop]
    else:
        if not os.path.isfile(entry):
            raise AudioError(f"{where}: audio file not found: {entry}")
        if os.path.getsize(entry) == 0:
            raise AudioError(f"{where}: audio file is empty: {entry}")
        try:
            samples, rate = sf.read(entry, dtype="float32", always_2d=True, start=start, frames=frames)
        except (RuntimeError, sf.LibsndfileError) as err:
            raise AudioError(f"{where}: cannot read audio file {entry}: {err}") from err
    if rate != sample_rate:
        raise AudioError(f"{where}: sample rate is {rate} Hz, expected {sample_rate} Hz")
    if samples.shape[0] == 0:
        raise AudioError(f"{where}: audio has no samples")
    return samples


def audio_num_samples(entry: str, *, sample_rate: int = SAMPLE_RATE, where: str = "") -> int:
    """Length in samples, from the header for plain files (cheap) and by decoding for pipes."""
    entry = entry.strip()
    if is_pipe(entry):
        return len(read_audio(entry, sample_rate=sample_rate, where=where))
    where = where or entry
    if not os.path.isfile(entry):
        raise AudioError(f"{where}: audio file not found: {entry}")
    try:
        # opening the file reads the header only; sf.info() costs about twice as much (it also formats
        # a description), which shows on a million files
        with sf.SoundFile(entry) as handle:
            frames, rate = handle.frames, handle.samplerate
    except (RuntimeError, sf.LibsndfileError) as err:
        raise AudioError(f"{where}: cannot read audio file {entry}: {err}") from err
    if rate != sample_rate:
        raise AudioError(f"{where}: sample rate is {rate} Hz, expected {sample_rate} Hz")
    if frames == 0:
        raise AudioError(f"{where}: audio has no samples")
    return int(frames)


def audio_header(path: str, *, where: str = "") -> tuple[int, int, int]:
    """(frames, sample rate, channels) of a plain audio file from its header; AudioError naming `where`
    when it is missing, empty or not audio."""
    where = where or path
    if not os.path.isfile(path):
        raise AudioError(f"{where}: audio file not found: {path}")
    if os.path.getsize(path) == 0:
        raise AudioError(f"{where}: audio file is empty: {path}")
    try:
        with sf.SoundFile(path) as handle:
            return int(handle.frames), int(handle.samplerate), int(handle.channels)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise AudioError(f"{where}: cannot read audio file {path}: {err}") from err
    except OSError as err:
        raise AudioError(f"{where}: cannot open audio file {path}: {err.strerror or err}") from err


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit PCM wav atomically."""
    with atomic_write(path, "wb") as handle:
        sf.write(handle, np.asarray(samples, dtype=np.float32), sample_rate, subtype="PCM_16", format="WAV")


class MultichannelWarning(UserWarning):
    """A stereo input was mixed down to mono."""


_INT_SCALE = {np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31}


def _too_many_channels(samples: np.ndarray, where: str) -> np.ndarray:
    if samples.shape[1] > 2:
        raise AudioError(f"{where}: audio has {samples.shape[1]} channels; mono or stereo only: pick a "
                         "channel first")
    return samples


def _channels_last(x: np.ndarray, where: str) -> np.ndarray:
    """(samples,) or a 2-D array with the channels on its shorter axis -> (samples, channels)."""
    if x.ndim == 1:
        return x[:, None]
    if x.ndim != 2:
        raise AudioError(f"{where}: expected a 1-D waveform or a 2-D (channels, samples) array, got shape "
                         f"{tuple(x.shape)}")
    return _too_many_channels(x if x.shape[1] <= x.shape[0] else x.T, where)


def _as_float(x: np.ndarray, where: str) -> np.ndarray:
    if x.dtype in _INT_SCALE:
        return x.astype(np.float32) / _INT_SCALE[x.dtype]
    if x.dtype.kind != "f":
        raise AudioError(f"{where}: audio samples of type {x.dtype} (expected float, int16 or int32)")
    return x.astype(np.float32, copy=False)


def _read_any_rate(path: str, where: str) -> tuple[np.ndarray, int]:
    if is_pipe(path):
        return read_audio(path, where=where)[:, None], SAMPLE_RATE
    if not os.path.isfile(path):
        raise AudioError(f"{where}: audio file not found")
    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise AudioError(f"{where}: cannot read audio file ({err})") from err
    return samples, int(rate)


def load_waveform(audio, sample_rate: int | None = None, *, where: str = "",
                  target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Any waveform -> float32 mono at `target_rate` (the model's 16 kHz).

    `audio`: a path (any format soundfile reads, or a wav.scp pipe `cmd |` giving 16 kHz), a numpy array or a
    torch tensor, 1-D or 2-D (channels on the shorter axis); float, int16 or int32 samples. `sample_rate`:
    the rate of an array or tensor (default `target_rate`); a file's own rate is read from the file, and a
    `sample_rate` that contradicts it is an error. Stereo is averaged to mono with a MultichannelWarning;
    more channels, no samples, NaN or Inf raise AudioError naming `where`. Resampling uses torchaudio."""
    import warnings

    if isinstance(audio, (str, os.PathLike)):
        where = where or str(audio)
        samples, rate = _read_any_rate(str(audio), where)
        samples = _too_many_channels(samples, where)
        if sample_rate is not None and int(sample_rate) != rate:
            raise AudioError(f"{where}: sample_rate={sample_rate} given, but the file is {rate} Hz")
    else:
        where = where or "audio array"
        if hasattr(audio, "detach"):  # a torch tensor
            audio = audio.detach().cpu().numpy()
        if not isinstance(audio, np.ndarray):
            raise AudioError(f"{where}: expected a path, a numpy array or a torch tensor, "
                             f"got {type(audio).__name__}")
        rate = int(sample_rate) if sample_rate is not None else target_rate
        samples = _as_float(_channels_last(audio, where), where)
    if rate <= 0:
        raise AudioError(f"{where}: sample rate must be positive, got {rate}")
    if samples.shape[0] == 0:
        raise AudioError(f"{where}: audio has no samples")
    bad = ~np.isfinite(samples)
    if bad.any():
        raise AudioError(f"{where}: audio contains NaN or Inf (first at sample {int(np.argmax(bad.any(1)))})")
    if samples.shape[1] == 2:
        warnings.warn(f"{where}: 2 channels mixed down to mono", MultichannelWarning, stacklevel=3)
    mono = samples.mean(axis=1, dtype=np.float32)
    if rate != target_rate:
        import torch
        import torchaudio

        mono = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(mono)), rate,
                                              target_rate).numpy()
    return np.ascontiguousarray(mono, dtype=np.float32)
