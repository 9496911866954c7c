"""Trial lists in the formats evaluation sets are distributed in, and their conversion to Kaldi trials.

Formats (one trial per line, fields separated by blanks):

  kaldi       <enroll> <test> target|nontarget     this recipe's trials (data/<set>/trials/*.kaldi)
  challenge   1|0 <path1> <path2>                  VoxCeleb1 veri_test2.txt, VoxSRC-23, VCMix, VoxConverse SV
  official    1|0 <key1> <key2> <path1> <path2>    the official SSRFNet loaders (vcmix_test.txt,
                                                   voxsrc23_test.txt, voices_eval.txt, ...): integer keys
  key         <model> <test> tgt|imp               NIST-style keys: SITW keys/*.lst, VOiCES *trial-keys.lst
  label-last  <enroll> <test> 1|0                  CN-Celeb eval/lists/trials.lst

The format is detected from the first line and every other line must follow it; a line of any other shape
is a TrialsError naming the file and line. A list with two fields per line is the unlabelled form VoxSRC
publishes before its labels, and is refused as such.

Path-based lists (challenge, official) name audio files; converting them to Kaldi trials needs a map from
each side to an utterance id. A list whose audio is missing is refused with the number of missing files and
the first one, never scored on the subset that is present.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ssrfnet.kaldi.trials import TrialsError, write_trials

FORMATS = {
    "kaldi": "'<enroll> <test> target|nontarget' (Kaldi)",
    "challenge": "'1|0 <path1> <path2>' (VoxCeleb/VoxSRC/VCMix)",
    "official": "'1|0 <key1> <key2> <path1> <path2>' (official SSRFNet)",
    "key": "'<model> <test> tgt|imp' (SITW/VOiCES keys)",
    "label-last": "'<enroll> <test> 1|0' (CN-Celeb)",
}
_LAST_LABELS = {
    "kaldi": {"target": True, "nontarget": False},
    "key": {"tgt": True, "imp": False},
    "label-last": {"1": True, "0": False},
}
_FIRST_LABELS = {"1": True, "0": False}


@dataclass(frozen=True)
class TrialRow:
    """One trial: the two sides as written in the list (ids or paths), the label and the source line."""

    enroll: str
    test: str
    is_target: bool
    lineno: int


@dataclass
class TrialList:
    path: Path
    format: str
    rows: list[TrialRow]

    @property
    def num_targets(self) -> int:
        return sum(row.is_target for row in self.rows)

    def where(self, row: TrialRow) -> str:
        return f"{self.path}:{row.lineno}"


def accepted_formats(formats: Iterable[str] = FORMATS) -> str:
    return "; ".join(f"{name} {FORMATS[name]}" for name in formats)


def detect_format(fields: list[str]) -> str | None:
    """The format a line's fields match, or None."""
    if len(fields) == 5 and fields[0] in _FIRST_LABELS and fields[1].isdigit() and fields[2].isdigit():
        return "official"
    if len(fields) != 3:
        return None
    if fields[0] in _FIRST_LABELS:
        return "challenge"
    for name, labels in _LAST_LABELS.items():
        if fields[2] in labels:
            return name
    return None


def _parse(fields: list[str], fmt: str, lineno: int) -> TrialRow | None:
    if fmt == "official":
        if len(fields) != 5 or fields[0] not in _FIRST_LABELS or not (fields[1] + fields[2]).isdigit():
            return None
        return TrialRow(fields[3], fields[4], _FIRST_LABELS[fields[0]], lineno)
    if len(fields) != 3:
        return None
    if fmt == "challenge":
        label = _FIRST_LABELS.get(fields[0])
        return None if label is None else TrialRow(fields[1], fields[2], label, lineno)
    label = _LAST_LABELS[fmt].get(fields[2])
    return None if label is None else TrialRow(fields[0], fields[1], label, lineno)


def _refuse_first_line(path: Path, fields: list[str], line: str, allowed: list[str]) -> None:
    if len(fields) == 2:
        raise TrialsError(
            f"{path}:1: two fields per line ({line.strip()!r}) is the unlabelled challenge list; use the "
            "labelled list released after the challenge"
        )
    found = detect_format(fields)
    what = f"a {found} line, not accepted here" if found else "unknown trial-list format"
    raise TrialsError(f"{path}:1: {what}: {line.strip()!r}; accepted: {accepted_formats(allowed)}")


def _check_official_keys(path: Path, rows: list[TrialRow], keys: list[tuple[str, str]]) -> None:
    """In the official lists an integer key stands for one audio file: the same key with two paths is
    an error (the official loader would silently score the first path for both)."""
    first: dict[str, tuple[str, int]] = {}
    for row, pair in zip(rows, keys):
        for key, side in zip(pair, (row.enroll, row.test)):
            seen = first.setdefault(key, (side, row.lineno))
            if seen[0] != side:
                raise TrialsError(
                    f"{path}:{row.lineno}: key {key} names {side!r}, but line {seen[1]} gave it {seen[0]!r}"
                )


def read_trial_list(
    path: str | os.PathLike, *, formats: Iterable[str] = tuple(FORMATS), fmt: str | None = None
) -> TrialList:
    """Read a trial list of any accepted format (detected from line 1 unless `fmt` is given)."""
    path = Path(path)
    forced = fmt
    allowed = [fmt] if fmt else list(formats)
    unknown = [name for name in allowed if name not in FORMATS]
    if unknown:
        raise ValueError(f"unknown trial-list format(s) {unknown}; known: {', '.join(FORMATS)}")
    if not path.is_file():
        raise TrialsError(f"{path}: no such trial list")
    rows: list[TrialRow] = []
    official_keys: list[tuple[str, str]] = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                raise TrialsError(f"{path}:{lineno}: empty line")
            if lineno == 1 and not forced:
                fmt = detect_format(fields)
                if fmt not in allowed:
                    _refuse_first_line(path, fields, line, allowed)
            row = _parse(fields, fmt, lineno)
            if row is None:
                raise TrialsError(
                    f"{path}:{lineno}: not a {fmt} line {FORMATS[fmt]} like line 1: {line.strip()!r}"
                )
            rows.append(row)
            if fmt == "official":
                official_keys.append((fields[1], fields[2]))
    if not rows:
        raise TrialsError(f"{path}: no trials")
    if fmt == "official":
        _check_official_keys(path, rows, official_keys)
    return TrialList(path, fmt, rows)


def require_files(
    source: str | os.PathLike, names: Iterable[tuple[str, int]], resolve: Callable[[str], Path | None]
) -> dict[str, Path]:
    """Map every `(audio path as written, line)` of a list file to an existing file.

    `resolve` returns the file for a path as written, or None when it is absent. If any is absent the list is
    refused: TrialsError with the number of missing files and the first one (with its line).
    """
    found: dict[str, Path] = {}
    missing: dict[str, int] = {}
    for name, lineno in names:
        if name in found or name in missing:
            continue
        audio = resolve(name)
        if audio is None:
            missing[name] = lineno
        else:
            found[name] = audio
    if missing:
        first, lineno = next(iter(missing.items()))
        raise TrialsError(
            f"{source}: {len(missing)} of {len(found) + len(missing)} audio files named by the list are "
            f"missing (first, line {lineno}: {first}); refusing to score a subset of the list"
        )
    return found


def require_audio(trial_list: TrialList, resolve: Callable[[str], Path | None], *,
                  sides: str = "both") -> dict[str, Path]:
    """require_files() for the audio paths of a trial list's `sides` (both, enroll or test)."""
    if sides not in ("both", "enroll", "test"):
        raise ValueError(f"sides must be both, enroll or test, not {sides!r}")
    names = []
    for row in trial_list.rows:
        if sides != "test":
            names.append((row.enroll, row.lineno))
        if sides != "enroll":
            names.append((row.test, row.lineno))
    return require_files(trial_list.path, names, resolve)


def to_kaldi_trials(
    trial_list: TrialList, enroll_keys: Mapping[str, str], test_keys: Mapping[str, str] | None = None
) -> list[tuple[str, str, bool]]:
    """Kaldi `(enroll, test, is_target)` trials; each side is mapped to an utterance id of a data dir.

    A side without an utterance id is refused with the number of such sides and the first one.
    """
    test_keys = enroll_keys if test_keys is None else test_keys
    trials = []
    unknown: dict[str, int] = {}
    for row in trial_list.rows:
        enroll, test = enroll_keys.get(row.enroll), test_keys.get(row.test)
        if enroll is None:
            unknown.setdefault(row.enroll, row.lineno)
        if test is None:
            unknown.setdefault(row.test, row.lineno)
        if enroll is not None and test is not None:
            trials.append((enroll, test, row.is_target))
    if unknown:
        first, lineno = next(iter(unknown.items()))
        raise TrialsError(
            f"{trial_list.path}: {len(unknown)} sides name no utterance of the data directory "
            f"(first, line {lineno}: {first}); refusing to score a subset of the list"
        )
    return trials


def convert_trial_list(
    src: str | os.PathLike, dst: str | os.PathLike, keys: Mapping[str, str], *,
    formats: Iterable[str] = ("challenge", "official", "kaldi"),
) -> int:
    """Convert a list of any accepted format to a Kaldi trials file over a data dir's utterance ids.

    `keys` maps each side as written (a path, or an utterance id for a Kaldi list) to its utterance id, e.g.
    the relative audio paths of a data directory. Returns the number of trials written.
    """
    trial_list = read_trial_list(src, formats=formats)
    trials = to_kaldi_trials(trial_list, keys)
    write_trials(dst, trials)
    return len(trials)
