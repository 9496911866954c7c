"""Speaker-verification trial lists.

Kaldi form (what this recipe scores): one trial per line, `<enroll-utt> <test-utt> target|nontarget`.
VoxCeleb form (as published by VGG): `1|0 <spk>/<session>/<n>.wav <spk>/<session>/<n>.wav`.

VGG publishes two generations of the VoxCeleb1 lists. The *cleaned* ones (`veri_test2.txt`,
`list_test_all2.txt`, `list_test_hard2.txt`) dropped trials whose audio was found to be mislabelled and
removed from the release; the original ones (`veri_test.txt`, `list_test_all.txt`, `list_test_hard.txt`)
still name those utterances. Scoring with the wrong list silently shifts the EER (a known pitfall), so the
converter refuses the originals, by name, by their known sizes and by content (utterances absent from the
wav tree).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ssrfnet.errors import SSRFNetError
from ssrfnet.fileio import atomic_write

LABELS = {"target": True, "nontarget": False}

# Cleaned VoxCeleb1 list -> Kaldi trials file name written under data/vox1/trials/.
CLEANED_LISTS = {
    "veri_test2.txt": "vox1_O_cleaned.kaldi",
    "list_test_all2.txt": "vox1_E_cleaned.kaldi",
    "list_test_hard2.txt": "vox1_H_cleaned.kaldi",
}
# Original (uncleaned) list -> its cleaned replacement.
UNCLEANED_LISTS = {
    "veri_test.txt": "veri_test2.txt",
    "list_test_all.txt": "list_test_all2.txt",
    "list_test_hard.txt": "list_test_hard2.txt",
    "voxceleb1_test.txt": "veri_test2.txt",
}
# Number of trials in each original list; the cleaned ones have 37611, 579818 and 550894.
UNCLEANED_SIZES = {37720: "veri_test.txt", 581480: "list_test_all.txt", 552536: "list_test_hard.txt"}


class TrialsError(SSRFNetError, ValueError):
    """A malformed or inconsistent trial list; the message names the file and line."""


def read_trials(path: str | os.PathLike, utts: Iterable[str] | None = None) -> list[tuple[str, str, bool]]:
    """Read a Kaldi trials file into `(enroll, test, is_target)` tuples, in file order.

    With `utts` (e.g. a data directory's utterance ids), every utterance a trial names must be in it.
    """
    path = Path(path)
    if not path.is_file():
        raise TrialsError(f"{path}: no such trials file")
    known = None if utts is None else set(utts)
    trials: list[tuple[str, str, bool]] = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if len(fields) != 3:
                raise TrialsError(
                    f"{path}:{lineno}: expected '<enroll> <test> target|nontarget', got {line.strip()!r}"
                )
            enroll, test, label = fields
            if label not in LABELS:
                raise TrialsError(f"{path}:{lineno}: label must be 'target' or 'nontarget', got {label!r}")
            if known is not None:
                for utt in (enroll, test):
                    if utt not in known:
                        raise TrialsError(f"{path}:{lineno}: unknown utterance {utt!r}")
            trials.append((enroll, test, LABELS[label]))
    if not trials:
        raise TrialsError(f"{path}: no trials")
    return trials


def write_trials(path: str | os.PathLike, trials: Iterable[tuple[str, str, bool]]) -> None:
    """Write `(enroll, test, is_target)` tuples atomically, in the given order."""
    with atomic_write(path) as handle:
        for enroll, test, is_target in trials:
            handle.write(f"{enroll} {test} {'target' if is_target else 'nontarget'}\n")


def _strip_ext(rel: str) -> str:
    base, ext = os.path.splitext(rel)
    return base if ext.lower() in (".wav", ".m4a", ".flac") else rel


def read_voxceleb_list(path: str | os.PathLike) -> list[tuple[bool, str, str, int]]:
    """Read a VGG list into `(is_target, enroll_relpath, test_relpath, lineno)`; rejects uncleaned lists."""
    path = Path(path)
    if not path.is_file():
        raise TrialsError(f"{path}: no such trial list")
    if path.name in UNCLEANED_LISTS:
        raise TrialsError(
            f"{path}: this is the original, uncleaned VoxCeleb1 list; use the cleaned "
            f"{UNCLEANED_LISTS[path.name]} (the original names utterances removed from the release)"
        )
    rows: list[tuple[bool, str, str, int]] = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                raise TrialsError(f"{path}:{lineno}: empty line")
            if len(fields) != 3:
                raise TrialsError(
                    f"{path}:{lineno}: expected 3 fields '1|0 <enroll.wav> <test.wav>', got {len(fields)}: "
                    f"{line.strip()!r}"
                )
            if fields[0] not in ("0", "1"):
                raise TrialsError(
                    f"{path}:{lineno}: label must be 0 or 1, got {fields[0]!r} (is this a VoxCeleb1 list?)"
                )
            rows.append((fields[0] == "1", fields[1], fields[2], lineno))
    if not rows:
        raise TrialsError(f"{path}: no trials")
    if len(rows) in UNCLEANED_SIZES:
        original = UNCLEANED_SIZES[len(rows)]
        raise TrialsError(
            f"{path}: has {len(rows)} trials, the size of the original uncleaned {original}; "
            f"use the cleaned {UNCLEANED_LISTS[original]}"
        )
    return rows


def convert_voxceleb_list(src: str | os.PathLike, dst: str | os.PathLike, rel2key: Mapping[str, str]) -> int:
    """Convert a VGG list to Kaldi trials using `rel2key` (`spk/session/n` without extension -> utt id).

    An utterance missing from `rel2key` is an error naming file, line and utterance: the cleaned lists only
    name utterances of the release, so this means a wrong list, an uncleaned list or an incomplete wav tree.
    Returns the number of trials written.
    """
    rows = read_voxceleb_list(src)
    trials = []
    for is_target, enroll, test, lineno in rows:
        keys = []
        for rel in (enroll, test):
            key = rel2key.get(_strip_ext(rel))
            if key is None:
                raise TrialsError(
                    f"{src}:{lineno}: utterance {rel!r} is not in the VoxCeleb1 wav tree "
                    "(an uncleaned or wrong list, or an incomplete download?)"
                )
            keys.append(key)
        trials.append((keys[0], keys[1], is_target))
    write_trials(dst, trials)
    return len(trials)
