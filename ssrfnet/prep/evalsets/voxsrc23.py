"""VoxSRC-23 test (speaker-verification tracks 1 and 2), with the labels released after the challenge.

Layout as distributed (the test zip unpacks into a flat directory of six-digit wav files, 16 kHz):

    <root>/VoxSRC2023_test/000000.wav ...
    <root>/<list>          labelled list, challenge format `1|0 000123.wav 004567.wav` (names relative to
                           VoxSRC2023_test/), or the official SSRFNet list `voxsrc23_test.txt`
                           (`1|0 <key1> <key2> <path1> <path2>`)

The list is the first of LIST_NAMES found in <root>, or `--list FILE` (mirrors name the labelled list
differently). Absolute paths from the machine that wrote an official list are matched by their tail below
the audio directory. Output: data/voxsrc23/ with trials/voxsrc23_test.kaldi.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssrfnet.kaldi.trial_lists import read_trial_list
from ssrfnet.prep.common import PrepError
from ssrfnet.prep.evalsets.builder import AudioFinder, EvalSet, find_file, require_dir, write_eval_set

SET = "voxsrc23"
AUDIO_DIR = "VoxSRC2023_test"
# official SSRFNet names first: their lists are what the paper scored
LIST_NAMES = ("voxsrc23_test.txt", "voxsrc_test.txt", "VoxSRC2023_test.txt", "VoxSRC2023_test_trials.txt")


def prepare_voxsrc23(root: str | os.PathLike, data_dir: str | os.PathLike, *, trial_list: str | None = None,
                     audio_dir: str | None = None, nj: int = 4) -> Path:
    root = require_dir(Path(root), "VoxSRC-23")
    list_path = Path(trial_list) if trial_list else find_file(root, LIST_NAMES, max_depth=1)
    if list_path is None:
        names = ", ".join(LIST_NAMES)
        raise PrepError(f"{root}: no VoxSRC-23 trial list ({names}); give it with --list FILE")
    audio = Path(audio_dir) if audio_dir else (root / AUDIO_DIR if (root / AUDIO_DIR).is_dir() else root)
    require_dir(audio, "VoxSRC-23 audio")
    finder = AudioFinder(SET, [(audio, "")] + ([(root, "root")] if audio != root else []))
    evalset = EvalSet(SET, "VoxSRC-23 test", root)
    trials = read_trial_list(list_path, formats=("challenge", "official"))
    evalset.add_list("voxsrc23_test", trials, evalset.add_files(trials, finder))
    return write_eval_set(evalset, data_dir, nj)
