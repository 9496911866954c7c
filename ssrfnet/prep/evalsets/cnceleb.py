"""CN-Celeb1 evaluation set, enrolment utterances concatenated per speaker as its protocol prescribes.

Layout as distributed (cn-celeb_v2.tar.gz, 16 kHz flac; the lists still name the files .wav, as in v1):

    <root>/data/idXXXXX/<genre>-<session>-<n>.flac      all utterances, eval speakers id00800-id00999
    <root>/eval/enroll/idXXXXX-enroll.flac             the concatenated enrolment utterance per speaker
    <root>/eval/test/idXXXXX-<genre>-<session>-<n>.flac
    <root>/eval/lists/enroll.lst    `idXXXXX-enroll enroll/idXXXXX-enroll.wav`
    <root>/eval/lists/enroll.map    `idXXXXX-enroll idXXXXX/<genre>-<session>-<n>.wav ...` (below data/)
    <root>/eval/lists/trials.lst    `idXXXXX-enroll test/idXXXXX-<genre>-<session>-<n>.wav 1|0`

Each enrolment model is one utterance: with `--enroll-from files` the distributed eval/enroll/ file (already
the concatenation); with `map` the concatenation of its enroll.map utterances, in map order, built by a sox
pipe in wav.scp; `auto` (default) takes the files when enroll.lst is there and the map otherwise.
Output: data/cnceleb/ with trials/cnceleb1_eval.kaldi.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssrfnet.kaldi.trial_lists import read_trial_list
from ssrfnet.prep.common import PrepError, log
from ssrfnet.prep.evalsets.builder import AudioFinder, EvalSet, require_dir, write_eval_set

SET = "cnceleb"
ENROLL_MODES = ("auto", "files", "map")


def find_cnceleb_root(root: Path) -> Path:
    for candidate in (root, root / "CN-Celeb_flac", root / "CN-Celeb"):
        if (candidate / "eval" / "lists" / "trials.lst").is_file():
            return candidate
    raise PrepError(f"{root}: not a CN-Celeb root (expected eval/lists/trials.lst below it)")


def prepare_cnceleb(root: str | os.PathLike, data_dir: str | os.PathLike, *, enroll_from: str = "auto",
                    nj: int = 4) -> Path:
    if enroll_from not in ENROLL_MODES:
        raise PrepError(f"--enroll-from must be one of {', '.join(ENROLL_MODES)}, not {enroll_from!r}")
    root = find_cnceleb_root(require_dir(Path(root), "CN-Celeb"))
    lists = root / "eval" / "lists"
    if enroll_from == "auto":
        enroll_from = "files" if (lists / "enroll.lst").is_file() else "map"
        log(f"{root}: enrolment from " + ("eval/enroll/ (enroll.lst)" if enroll_from == "files"
                                          else "the concatenated enroll.map utterances"))
    evalset = EvalSet(SET, "CN-Celeb1 eval", root)
    trials = read_trial_list(lists / "trials.lst", formats=("label-last",))
    test_finder = AudioFinder(SET, [(root / "eval", "eval")])
    if enroll_from == "files":
        enroll = evalset.add_enrollments(trials, lists / "enroll.lst", test_finder)
    else:
        data_finder = AudioFinder(SET, [(root / "data", "data")])
        enroll = evalset.add_enrollments(trials, lists / "enroll.map", data_finder, concat=True)
    evalset.add_list("cnceleb1_eval", trials, enroll, evalset.add_files(trials, test_finder, sides="test"))
    return write_eval_set(evalset, data_dir, nj)
