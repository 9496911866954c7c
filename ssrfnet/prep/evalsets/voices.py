"""VOiCES from a Distance Challenge 2019, speaker-recognition dev and eval (far-field, reverberant rooms,
distractor noise).

Layout as distributed (the challenge's dev release, and the eval release with the post-evaluation keys):

    <root>/sid_dev/spXXXX/Lab41-SRI-VOiCES-<room>-<distractor>-spXXXX-...-dgNNN.wav
    <root>/sid_dev_lists_and_keys/dev-enroll.lst       `<model> sid_dev/spXXXX/<file>.wav`
    <root>/sid_dev_lists_and_keys/dev-trial-keys.lst   `<model> sid_dev/spXXXX/<file>.wav tgt|imp`
    <root>/sid_eval/<file>.wav
    <root>/sid_eval_lists/eval-enroll.lst              `<model> sid_eval/<file>.wav`
    <root>/VOiCES_challenge_2019_post-eval-release/VOiCES_challenge_2019_eval.SID.trial-keys.lst
                                                       `<model> <file>.wav tgt|imp`

The lists may sit deeper (e.g. Development_Data/Speaker_Recognition/ in the Box download): they are
searched for by name, and the audio is looked up beside the enrolment list's directory (with and
without the sid_<part>/ prefix). `--dev-list/--eval-list FILE` take a path-based list instead (the official
SSRFNet voices_dev.txt / voices_eval.txt). Output: data/voices/ with trials/voices_{dev,eval}.kaldi; a part
whose keys are absent is skipped with a warning.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssrfnet.kaldi.trial_lists import read_trial_list
from ssrfnet.prep.common import PrepError, log
from ssrfnet.prep.evalsets.builder import AudioFinder, EvalSet, find_file, require_dir, write_eval_set

SET = "voices"
PARTS = {
    "dev": {"keys": ("dev-trial-keys.lst",), "enroll": ("dev-enroll.lst",)},
    "eval": {"keys": ("VOiCES_challenge_2019_eval.SID.trial-keys.lst", "eval-trial-keys.lst"),
             "enroll": ("eval-enroll.lst",)},
}


def _add_keyed_part(evalset: EvalSet, root: Path, part: str) -> bool:
    keys_path = find_file(root, PARTS[part]["keys"])
    if keys_path is None:
        log(f"WARNING: {root}: no VOiCES {part} keys ({', '.join(PARTS[part]['keys'])}); {part} skipped")
        return False
    enroll_path = find_file(root, PARTS[part]["enroll"])
    if enroll_path is None:
        raise PrepError(f"{root}: VOiCES {part} keys {keys_path} found but no {PARTS[part]['enroll'][0]}")
    base = enroll_path.parent.parent
    finder = AudioFinder(SET, [(base, ""), (base / f"sid_{part}", f"sid_{part}")])
    trials = read_trial_list(keys_path, formats=("key",))
    enroll = evalset.add_enrollments(trials, enroll_path, finder)
    evalset.add_list(f"voices_{part}", trials, enroll, evalset.add_files(trials, finder, sides="test"))
    return True


def prepare_voices(root: str | os.PathLike, data_dir: str | os.PathLike, *, dev_list: str | None = None,
                   eval_list: str | None = None, nj: int = 4) -> Path:
    root = require_dir(Path(root), "VOiCES")
    evalset = EvalSet(SET, "VOiCES", root)
    for part, given in (("dev", dev_list), ("eval", eval_list)):
        if given:
            trials = read_trial_list(given, formats=("challenge", "official"))
            finder = AudioFinder(SET, [(root, "")])
            evalset.add_list(f"voices_{part}", trials, evalset.add_files(trials, finder))
        else:
            _add_keyed_part(evalset, root, part)
    if not evalset.lists:
        raise PrepError(f"{root}: found neither VOiCES dev nor eval keys (is it the VOiCES challenge root?)")
    return write_eval_set(evalset, data_dir, nj)
