"""VCMix (Heo et al., ICASSP 2024): VoxConverse-test non-targets + VoxCeleb1-O (cleaned) targets.

The published list is 159,536 lines of `1|0 <path1> <path2>`: the 140,734 label-0 trials of the VoxConverse
test speaker-verification set without overlap, then the 18,802 label-1 trials of VoxCeleb1-O cleaned
(`veri_test2.txt`). Its VoxConverse paths are relative to `voxconverse_test_SV/`, its VoxCeleb1 paths
(`id10270/5r0dWxy17C8/00001.wav`) to the VoxCeleb1 wav tree. Layout (the SEED project's zip and manifest):

    <root>/voxconverse_test_SV/trials_wo_overlap.txt   `1|0 <path1> <path2>`, relative to voxconverse_test_SV/
    <root>/voxconverse_test_SV/...                     its audio (16 kHz wav)
    <root>/vcmix_test.txt (or manifests/vcmix_test.txt) the published VCMix list, optional
    <vox1-root>/wav/idXXXXX/<video>/NNNNN.wav, <vox1-root>/veri_test2.txt

With the published list it is used as it is (the official SSRFNet five-field form is accepted too);
without it the list is built the same way from trials_wo_overlap.txt and veri_test2.txt, and the built list
is kept as data/vcmix/vcmix_test.txt. Output: data/vcmix/ with trials/vcmix_test.kaldi.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssrfnet.kaldi.trial_lists import TrialList, TrialRow, read_trial_list
from ssrfnet.kaldi.trials import read_voxceleb_list
from ssrfnet.prep.common import PrepError, corpus_kind, log
from ssrfnet.prep.evalsets.builder import AudioFinder, EvalSet, find_file, require_dir, write_eval_set

SET = "vcmix"
LIST_NAME = "vcmix_test.txt"
VOXCONVERSE_DIR = "voxconverse_test_SV"
VOXCONVERSE_TRIALS = "trials_wo_overlap.txt"
VOX1_O_CLEANED = "veri_test2.txt"
PUBLISHED_SIZES = {"nontarget": 140_734, "target": 18_802}


def find_voxconverse(root: Path, voxconverse_dir: str | None) -> Path | None:
    if voxconverse_dir:
        return require_dir(Path(voxconverse_dir), "VoxConverse test SV")
    for candidate in (root / VOXCONVERSE_DIR, root):
        if (candidate / VOXCONVERSE_TRIALS).is_file():
            return candidate
    return None


def build_vcmix_lists(voxconverse: Path, vox1_root: Path) -> tuple[TrialList, TrialList]:
    """The two halves of VCMix: VoxConverse non-targets (label-0 lines) and VoxCeleb1-O targets."""
    conv = read_trial_list(voxconverse / VOXCONVERSE_TRIALS, formats=("challenge",))
    nontargets = TrialList(conv.path, conv.format, [r for r in conv.rows if not r.is_target])
    vox1_list = vox1_root / VOX1_O_CLEANED
    targets = [TrialRow(e, t, True, n) for is_target, e, t, n in read_voxceleb_list(vox1_list) if is_target]
    if not nontargets.rows or not targets:
        raise PrepError(f"VCMix needs label-0 trials in {conv.path} and label-1 trials in {vox1_list}")
    return nontargets, TrialList(vox1_list, "challenge", targets)


def _check_sizes(root: Path, counts: dict[str, int]) -> None:
    if corpus_kind(root) == "real" and counts != PUBLISHED_SIZES:
        log(f"WARNING: VCMix has {counts['nontarget']:,} non-target + {counts['target']:,} target trials; "
            f"the published list has {PUBLISHED_SIZES['nontarget']:,} + {PUBLISHED_SIZES['target']:,} "
            "(another VoxConverse SV or VoxCeleb1 list version?)")


def prepare_vcmix(root: str | os.PathLike, vox1_root: str | os.PathLike, data_dir: str | os.PathLike, *,
                  trial_list: str | None = None, voxconverse_dir: str | None = None, nj: int = 4) -> Path:
    root = require_dir(Path(root), "VCMix")
    vox1_root = require_dir(Path(vox1_root), "VoxCeleb1")
    voxconverse = find_voxconverse(root, voxconverse_dir)
    vox1_finder = AudioFinder(SET, [(vox1_root / "wav", "vox1")])
    evalset = EvalSet(SET, "VCMix", root)
    list_path = Path(trial_list) if trial_list else find_file(root, (LIST_NAME,), max_depth=2)
    if list_path is not None:
        roots = ([(voxconverse, "vc")] if voxconverse else []) + vox1_finder.roots
        published = read_trial_list(list_path, formats=("challenge", "official"))
        evalset.add_list("vcmix_test", published, evalset.add_files(published, AudioFinder(SET, roots)))
        counts = {"target": published.num_targets, "nontarget": len(published.rows) - published.num_targets}
    elif voxconverse is not None:
        nontargets, targets = build_vcmix_lists(voxconverse, vox1_root)
        keys = evalset.add_files(nontargets, AudioFinder(SET, [(voxconverse, "vc")]))
        keys.update(evalset.add_files(targets, vox1_finder))
        built = TrialList(Path(LIST_NAME), "challenge", nontargets.rows + targets.rows)
        source = f"built from {nontargets.path} (label 0) + {targets.path} (label 1)"
        evalset.add_list("vcmix_test", built, keys, source=source)
        evalset.extra_files[LIST_NAME] = "".join(
            f"{int(r.is_target)} {r.enroll} {r.test}\n" for r in built.rows)
        counts = {"target": len(targets.rows), "nontarget": len(nontargets.rows)}
    else:
        raise PrepError(
            f"{root}: neither {LIST_NAME} nor {VOXCONVERSE_DIR}/{VOXCONVERSE_TRIALS} found; VCMix needs the "
            "published list or the VoxConverse test SV set (give --list or --voxconverse-dir)"
        )
    _check_sizes(root, counts)
    return write_eval_set(evalset, data_dir, nj)
