"""Speakers in the Wild (SITW), core-core condition of the dev and eval parts.

Layout as distributed (16 kHz flac):

    <root>/{dev,eval}/audio/<name>.flac
    <root>/{dev,eval}/lists/enroll-core.lst   `<model> audio/<name>.flac`
    <root>/{dev,eval}/keys/core-core.lst      `<model> audio/<name>.flac tgt|imp`

Each model has one enrolment file (core: a single-speaker segment). Output: data/sitw/ with
trials/sitw_{dev,eval}_core-core.kaldi; a part that is absent is skipped with a warning.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssrfnet.kaldi.trial_lists import read_trial_list
from ssrfnet.prep.common import PrepError, log
from ssrfnet.prep.evalsets.builder import AudioFinder, EvalSet, require_dir, write_eval_set

SET = "sitw"
PARTS = ("dev", "eval")
ENROLL = "lists/enroll-core.lst"
KEYS = "keys/core-core.lst"


def prepare_sitw(root: str | os.PathLike, data_dir: str | os.PathLike, *, nj: int = 4) -> Path:
    root = require_dir(Path(root), "SITW")
    if not any((root / part).is_dir() for part in PARTS) and (root / "sitw").is_dir():
        root = root / "sitw"
    evalset = EvalSet(SET, "SITW core-core", root)
    for part in PARTS:
        part_dir = root / part
        if not (part_dir / KEYS).is_file():
            log(f"WARNING: {part_dir / KEYS}: not found; SITW {part} skipped")
            continue
        finder = AudioFinder(SET, [(part_dir, part)])
        trials = read_trial_list(part_dir / KEYS, formats=("key",))
        enroll = evalset.add_enrollments(trials, part_dir / ENROLL, finder)
        tests = evalset.add_files(trials, finder, sides="test")
        evalset.add_list(f"sitw_{part}_core-core", trials, enroll, tests)
    if not evalset.lists:
        raise PrepError(f"{root}: no SITW part with {KEYS} (expected {root}/dev/{KEYS}, {root}/eval/{KEYS})")
    return write_eval_set(evalset, data_dir, nj)
