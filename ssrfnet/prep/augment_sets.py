"""Stage 1: augmentation data directories from MUSAN and RIRS_NOISES (real, or the mini-corpus stand-ins).

Produces, under `<data>`:
  musan_{noise,music,speech}/     from `<musan-root>/{noise,music,speech}/<source>/*.wav`
  rirs/                           from `<rirs-root>/simulated_rirs/{smallroom,mediumroom,largeroom}`
each with wav.scp, utt2spk and spk2utt (every clip is its own "speaker"), utt2dur, and `packed/` (see
ssrfnet.data.packed). All three simulated room sizes are used, as WeSpeaker does (Kaldi and ESPnet use
small and medium only): large rooms add the long, strongly reverberant responses and cost nothing at
training time since the pack is sampled at random.

Keys: MUSAN files are already named `<category>-<source>-<n>` (`noise-free-sound-0000`) and keep their
stem; other names become `<category>-<source>-<stem>`. RIRs become `<room-size>-<stem>` for the real
`Room001-00001.wav` names (`smallroom-Room001-00001`), otherwise `<room-size>-<RoomNNN>-<stem>`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssrfnet.audio import AudioError
from ssrfnet.data.packed import AUDIO, PACK_DIR, PackError, check_pack, write_pack
from ssrfnet.prep.common import PrepError, install_all, log, num_samples_parallel, staging, write_data_dir

MUSAN_SETS = ("noise", "music", "speech")
ROOMS = ("smallroom", "mediumroom", "largeroom")


def _check_name(path: Path, parts: list[str]) -> None:
    for part in parts:
        if not part or any(c.isspace() for c in part):
            raise PrepError(f"{path}: name component {part!r} is empty or contains whitespace")


def _resolve(root: Path, inner: str, marker: str, what: str) -> Path:
    for candidate in (root, root / inner):
        if (candidate / marker).is_dir():
            return candidate
    raise PrepError(f"{root}: not a {what} directory (expected {root / marker} or {root / inner / marker})")


def scan_musan(musan_root: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """{'noise': {key: path}, 'music': ..., 'speech': ...}; every category must hold at least one wav."""
    root = Path(musan_root)
    if not root.is_dir():
        raise PrepError(f"{root}: no such MUSAN directory")
    root = _resolve(root, "musan", "noise", "MUSAN")
    sets: dict[str, dict[str, Path]] = {}
    for category in MUSAN_SETS:
        base = root / category
        if not base.is_dir():
            raise PrepError(f"{base}: missing MUSAN category directory")
        clips: dict[str, Path] = {}
        for path in sorted(base.rglob("*")):
            if path.suffix.lower() != ".wav" or not path.is_file():
                continue
            rel = path.relative_to(base)
            source = "-".join(rel.parts[:-1])
            _check_name(path, [path.stem] + list(rel.parts[:-1]))
            if path.stem.startswith(f"{category}-"):
                key = path.stem
            else:
                key = "-".join(p for p in (category, source, path.stem) if p)
            if key in clips:
                raise PrepError(f"{path}: key {key!r} already used by {clips[key]}")
            clips[key] = path.absolute()
        if not clips:
            raise PrepError(f"{base}: no .wav files in MUSAN category {category!r}")
        sets[category] = clips
    return sets


def scan_rirs(rirs_root: str | os.PathLike) -> dict[str, Path]:
    """{key: path} over all three simulated room sizes; each must be present and non-empty."""
    root = Path(rirs_root)
    if not root.is_dir():
        raise PrepError(f"{root}: no such RIRS_NOISES directory")
    if root.name != "simulated_rirs":
        root = _resolve(root, "RIRS_NOISES", "simulated_rirs", "RIRS_NOISES") / "simulated_rirs"
    clips: dict[str, Path] = {}
    for room in ROOMS:
        base = root / room
        if not base.is_dir():
            raise PrepError(f"{base}: missing simulated RIR directory ({', '.join(ROOMS)} are all used)")
        found = 0
        for path in sorted(base.rglob("*")):
            if path.suffix.lower() != ".wav" or not path.is_file():
                continue
            rel = path.relative_to(base)
            _check_name(path, [path.stem] + list(rel.parts[:-1]))
            parent = "-".join(rel.parts[:-1])
            if parent and not path.stem.startswith(parent.split("-")[-1]):
                key = f"{room}-{parent}-{path.stem}"
            else:
                key = f"{room}-{path.stem}"
            if key in clips:
                raise PrepError(f"{path}: key {key!r} already used by {clips[key]}")
            clips[key] = path.absolute()
            found += 1
        if not found:
            raise PrepError(f"{base}: no .wav files")
    return clips


def _reuse_pack(old: Path, new: Path, clips: dict[str, Path]) -> bool:
    """Hard-link (or copy) an existing pack into the staged dir when it still matches its sources."""
    try:
        check_pack(old)
    except PackError:
        return False
    if (old / "wav.scp").read_bytes() != (new / "wav.scp").read_bytes():
        return False
    stamp = (old / PACK_DIR / AUDIO).stat().st_mtime
    if any(path.stat().st_mtime >= stamp for path in clips.values()):
        return False
    (new / PACK_DIR).mkdir()
    for item in sorted((old / PACK_DIR).iterdir()):
        try:
            os.link(item, new / PACK_DIR / item.name)
        except OSError:
            (new / PACK_DIR / item.name).write_bytes(item.read_bytes())
    return check_pack(new) is not None


def build_aug_set(name: str, clips: dict[str, Path], stage: Path, target: Path, nj: int) -> None:
    out = stage / name
    wav = {key: str(path) for key, path in clips.items()}
    jobs = [(key, entry, f"{name}: utterance {key} ({entry})") for key, entry in wav.items()]
    samples = num_samples_parallel(jobs, nj)
    write_data_dir(out, wav, {key: key for key in wav}, samples)
    if _reuse_pack(target, out, clips):
        log(f"{target}: sources unchanged, reusing the existing pack")
    else:
        try:
            write_pack(out, nj=nj, num_samples=samples)
        except (AudioError, PackError) as err:
            raise PrepError(str(err)) from None
    total = sum(samples.values()) / 16000
    log(f"{name}: {len(wav)} clips, {total / 3600:.2f} h packed")


def prepare_augmentation(
    musan_root: str | os.PathLike, rirs_root: str | os.PathLike, data_dir: str | os.PathLike, *, nj: int = 4
) -> None:
    data_root = Path(data_dir)
    musan = scan_musan(musan_root)
    rirs = scan_rirs(rirs_root)
    sets = {f"musan_{category}": clips for category, clips in musan.items()}
    sets["rirs"] = rirs
    with staging(data_root, "prepare_augmentation") as stage:
        for name, clips in sets.items():
            build_aug_set(name, clips, stage, data_root / name, nj)
        install_all(stage, data_root, list(sets))
