"""Load and validate Kaldi data directories (wav.scp, utt2spk, spk2utt, utt2dur) in pure Python.

`validate(path)` applies the rules of Kaldi's `utils/validate_data_dir.sh --no-text --no-feats`:
every file ends in a newline, is C-locale sorted with unique keys, utt2spk has two fields per line and is
also sorted by speaker, spk2utt is exactly what utt2spk implies, the utterance lists of wav.scp / utt2dur
(or segments) match utt2spk, wav.scp has no '~', and no file holds non-printable characters.

`load_data_dir(path)` runs the same checks and returns a `DataDir` for training and extraction code.
Every error is a `DataDirError` whose message names the file, and the line or utterance at fault.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ssrfnet.errors import SSRFNetError
from ssrfnet.kaldi.table import TableError, read_table


class DataDirError(SSRFNetError, ValueError):
    """An inconsistent or malformed data directory; the message names file, line or utterance."""


def _check_text(path: Path) -> None:
    """Final newline and printable UTF-8 text (validate_data_dir.sh --non-print is the opt-out)."""
    data = path.read_bytes()
    if not data:
        raise DataDirError(f"{path}: file is empty")
    if not data.endswith(b"\n"):
        raise DataDirError(f"{path}: last line does not end in a newline")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataDirError(f"{path}:{line}: not valid UTF-8 text") from err
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        # str.isprintable runs in C; only a line it rejects (a tab, or a real fault) is looked at per char
        bad = [] if line.isprintable() else [c for c in line if not c.isprintable() and c != "\t"]
        if bad:
            raise DataDirError(f"{path}:{lineno}: non-printable character {bad[0]!r}")
        if line != line.strip():
            # Leading/trailing blanks break key matching in awk-based Kaldi tools.
            raise DataDirError(f"{path}:{lineno}: leading or trailing whitespace")


def _read(path: Path) -> list[tuple[str, str]]:
    _check_text(path)
    try:
        return read_table(path, require_sorted=True)
    except TableError as err:
        raise DataDirError(str(err)) from err


def _same_keys(path: Path, keys: list[str], ref_path: Path, ref: list[str]) -> None:
    """Both lists are sorted; name the first utterance that is in one and not the other."""
    if keys == ref:
        return
    mine, theirs = set(keys), set(ref)
    extra = sorted(mine - theirs)
    missing = sorted(theirs - mine)
    if extra:
        raise DataDirError(f"{path}: utterance {extra[0]!r} is not in {ref_path} ({len(extra)} such)")
    raise DataDirError(f"{path}: utterance {missing[0]!r} of {ref_path} is missing ({len(missing)} such)")


@dataclass
class DataDir:
    """A loaded data directory. Utterances are in C-locale order, as on disk."""

    path: Path
    utt2spk: dict[str, str]
    wav_scp: dict[str, str]
    utt2dur: dict[str, float] | None = None
    spk2utts: dict[str, list[str]] = field(default_factory=dict)

    @property
    def utts(self) -> list[str]:
        return list(self.utt2spk)

    @property
    def spks(self) -> list[str]:
        return list(self.spk2utts)

    def wav(self, utt: str) -> str:
        try:
            return self.wav_scp[utt]
        except KeyError:
            raise KeyError(f"{self.path}/wav.scp: no utterance {utt!r}") from None

    def spk(self, utt: str) -> str:
        try:
            return self.utt2spk[utt]
        except KeyError:
            raise KeyError(f"{self.path}/utt2spk: no utterance {utt!r}") from None

    def dur(self, utt: str) -> float:
        if self.utt2dur is None:
            raise KeyError(f"{self.path}: no utt2dur file (needed for utterance {utt!r})")
        try:
            return self.utt2dur[utt]
        except KeyError:
            raise KeyError(f"{self.path}/utt2dur: no utterance {utt!r}") from None

    def where(self, utt: str) -> str:
        """A location string for error messages about this utterance's audio."""
        return f"{self.path}/wav.scp: utterance {utt}"

    def __len__(self) -> int:
        return len(self.utt2spk)


def _check_utt2spk(u2s_path: Path, require_spk_prefix: bool) -> list[tuple[str, str]]:
    """utt2spk: two fields per line, sorted by speaker as well as by utterance (optionally prefixed)."""
    if not u2s_path.is_file():
        raise DataDirError(f"{u2s_path}: no such file")
    u2s_items = _read(u2s_path)
    with open(u2s_path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if len(line.split()) != 2:
                raise DataDirError(
                    f"{u2s_path}:{lineno}: expected 2 fields '<utt> <spk>', got {line.strip()!r}"
                )
    # Sorted by speaker too: the order by (speaker, line) must equal the order by line.
    by_spk = sorted(u2s_items, key=lambda kv: (kv[1], f"{kv[0]} {kv[1]}"))
    if by_spk != u2s_items:
        for lineno, (a, b) in enumerate(zip(u2s_items, by_spk), 1):
            if a != b:
                raise DataDirError(
                    f"{u2s_path}:{lineno}: utt2spk is not sorted by speaker as well as by utterance "
                    f"(utterance {a[0]!r}, speaker {a[1]!r}); make the speaker id a prefix of the "
                    "utterance id"
                )
    if require_spk_prefix:
        for lineno, (utt, spk) in enumerate(u2s_items, 1):
            if utt != spk and not utt.startswith(spk + "-"):
                raise DataDirError(
                    f"{u2s_path}:{lineno}: utterance {utt!r} does not start with its speaker id {spk!r} + '-'"
                )
    return u2s_items


def _check_spk2utt(s2u_path: Path, u2s_path: Path, spk2utts: dict[str, list[str]]) -> None:
    if not s2u_path.is_file():
        raise DataDirError(f"{s2u_path}: no such file (make it with utils/utt2spk_to_spk2utt.pl)")
    s2u_items = _read(s2u_path)
    expected = sorted(spk2utts.items())
    for lineno, (spk, rest) in enumerate(s2u_items, 1):
        if lineno > len(expected):
            raise DataDirError(f"{s2u_path}:{lineno}: speaker {spk!r} has no utterance in {u2s_path}")
        exp_spk, exp_utts = expected[lineno - 1]
        if spk != exp_spk or rest.split() != exp_utts:
            raise DataDirError(
                f"{s2u_path}:{lineno}: does not match {u2s_path} (speaker {spk!r}; expected "
                f"{exp_spk!r} with {len(exp_utts)} utterance(s)); regenerate it with utt2spk_to_spk2utt.pl"
            )
    if len(s2u_items) < len(expected):
        raise DataDirError(f"{s2u_path}: speaker {expected[len(s2u_items)][0]!r} of {u2s_path} is missing")


def _check_wav_scp(path: Path, u2s_path: Path, utts: list[str]) -> dict[str, str]:
    wav_path = path / "wav.scp"
    if not wav_path.is_file():
        raise DataDirError(f"{wav_path}: no such file")
    wav_items = _read(wav_path)
    for lineno, (key, value) in enumerate(wav_items, 1):
        if "~" in value:
            raise DataDirError(f"{wav_path}:{lineno}: '~' is not allowed in wav.scp (utterance {key!r})")
    if (path / "segments").is_file():
        raise DataDirError(f"{path / 'segments'}: segmented data directories are not supported here")
    _same_keys(wav_path, [k for k, _ in wav_items], u2s_path, utts)
    return dict(wav_items)


def _check_utt2dur(dur_path: Path, u2s_path: Path, utts: list[str]) -> dict[str, float] | None:
    if not dur_path.is_file():
        return None
    dur_items = _read(dur_path)
    _same_keys(dur_path, [k for k, _ in dur_items], u2s_path, utts)
    utt2dur = {}
    for lineno, (utt, value) in enumerate(dur_items, 1):
        try:
            dur = float(value)
        except ValueError:
            dur = math.nan
        if not math.isfinite(dur) or dur <= 0:
            raise DataDirError(f"{dur_path}:{lineno}: bad duration {value!r} for utterance {utt!r}")
        utt2dur[utt] = dur
    return utt2dur


def _load(path: str | os.PathLike, *, require_spk_prefix: bool) -> tuple[DataDir, list[str]]:
    path = Path(path)
    if not path.is_dir():
        raise DataDirError(f"{path}: no such data directory")
    u2s_path = path / "utt2spk"
    u2s_items = _check_utt2spk(u2s_path, require_spk_prefix)
    utts = [u for u, _ in u2s_items]
    spk2utts: dict[str, list[str]] = {}
    for utt, spk in u2s_items:
        spk2utts.setdefault(spk, []).append(utt)
    warnings = [f"{u2s_path}: only one speaker"] if len(spk2utts) == 1 else []
    _check_spk2utt(path / "spk2utt", u2s_path, spk2utts)
    wav_scp = _check_wav_scp(path, u2s_path, utts)
    utt2dur = _check_utt2dur(path / "utt2dur", u2s_path, utts)
    data = DataDir(path=path, utt2spk=dict(u2s_items), wav_scp=wav_scp, utt2dur=utt2dur, spk2utts=spk2utts)
    return data, warnings


def load_data_dir(path: str | os.PathLike, *, require_spk_prefix: bool = True) -> DataDir:
    """Load a data directory after checking it (see module docstring); raises DataDirError."""
    data, _ = _load(path, require_spk_prefix=require_spk_prefix)
    return data


def validate(path: str | os.PathLike, *, require_spk_prefix: bool = False, quiet: bool = False) -> list[str]:
    """Check a data directory like validate_data_dir.sh --no-text --no-feats; returns warnings.

    Raises DataDirError on the first problem. Kaldi itself does not demand speaker-prefixed utterance
    ids (only the consequence: utt2spk sorted by speaker), so that is opt-in here.
    """
    _, warnings = _load(path, require_spk_prefix=require_spk_prefix)
    if not quiet:
        for warning in warnings:
            print(f"WARNING: {warning}", file=sys.stderr)
    return warnings


def spk2utt_lines(utt2spk: dict[str, str] | list[tuple[str, str]]) -> list[tuple[str, str]]:
    """spk2utt rows for an utt2spk mapping, as utils/utt2spk_to_spk2utt.pl makes them (sorted)."""
    pairs = sorted(utt2spk.items()) if isinstance(utt2spk, dict) else sorted(utt2spk)
    spk2utts: dict[str, list[str]] = {}
    for utt, spk in pairs:
        spk2utts.setdefault(spk, []).append(utt)
    return [(spk, " ".join(utts)) for spk, utts in sorted(spk2utts.items())]
