"""The whole recipe, stages 0-6, on a tiny synthesised corpus: what a user gets from `./run.sh`.

Every evaluation set (VoxCeleb1 O/E/H and the stand-ins of VoxSRC-23, VCMix, VOiCES, CN-Celeb1 and SITW)
is prepared, extracted and scored (with affine and QMF calibration fitted on calibration trials of the
held-out speakers, and the no-training MFCC sanity baseline beside it), and the results table has a row for
each of their lists.

Runs in a scratch copy of egs/voxceleb (links to the real scripts, its own conf/, data/, exp/ and corpora/),
with the mini configuration shortened to a few training steps. Then checks that every stage left what the
next one reads, that a finished stage re-runs without changing anything, and that resuming training from
the latest checkpoint is a no-op once training has finished. Last, a baseline by conf swap (the ReDimNet-B2
mini conf, shortened: stage 2 skipped, stages 3-6) and its large-margin fine-tuning (stage 7) run beside it,
and the ablation table collects all four experiments (SSRFNet, ReDimNet-B2 before and after LMFT, MFCC).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import RECIPE

# A few steps of each training stage: enough to exercise checkpointing, validation and averaging.
SHORT_SCHEDULE = """
# ---- e2e test overrides (later lines win) ----
--max-steps=6
--distill-max-steps=3
--warmup-steps=2
--batch-size=4
--valid-every=3
--save-every=3
--num-avg=2
--log-every=1
--num-workers=0
# an evaluation option in the training conf: stage 3 keeps it in config.conf, stage 4 must obey it
--eval-num-crops=4
"""
EVAL_NUM_CROPS = 4
# the baseline's schedule: the same, without the stage-2 key a student-free conf must not set
BASELINE_SCHEDULE = SHORT_SCHEDULE.replace("--distill-max-steps=3\n", "") + "--export-quantize=none\n"
LM_SCHEDULE = """
# ---- e2e test overrides of conf/lm_mini.conf ----
--max-steps=4
--lm-margin-ramp-steps=2
--warmup-steps=1
--save-every=2
--valid-every=4
--num-avg=2
--log-every=1
"""
BASELINE = ("--mini-size", "tiny", "--nj", "2", "--conf", "conf/tiny_redimnet.conf")

TINY = ("--mini-size", "tiny", "--nj", "2", "--conf", "conf/tiny.conf")
EVAL_LISTS = {
    "vox1": ["vox1_E_cleaned", "vox1_H_cleaned", "vox1_O_cleaned"],
    "voxsrc23": ["voxsrc23_test"],
    "vcmix": ["vcmix_test"],
    "voices": ["voices_dev", "voices_eval"],
    "cnceleb": ["cnceleb1_eval"],
    "sitw": ["sitw_dev_core-core", "sitw_eval_core-core"],
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("espeak-ng") is None, reason="needs the Debian TTS packages (utils/setup_env.sh)"
    ),
]


def _run(recipe: Path, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        ["./run.sh", *args], cwd=recipe, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"run.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n"
            f"{proc.stderr[-6000:]}"
        )
    return proc


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    recipe = tmp_path_factory.mktemp("egs") / "voxceleb"
    recipe.mkdir()
    for name in ("run.sh", "utils", "steps", "local", "path.sh", "cmd.sh"):
        (recipe / name).symlink_to((RECIPE / name).resolve())
    shutil.copytree(RECIPE / "conf", recipe / "conf")
    mini = (recipe / "conf" / "ssrfnet_mini.conf").read_text()
    (recipe / "conf" / "tiny.conf").write_text(mini + SHORT_SCHEDULE)
    redimnet = (recipe / "conf" / "redimnet_b2_mini.conf").read_text()
    (recipe / "conf" / "tiny_redimnet.conf").write_text(redimnet + BASELINE_SCHEDULE)
    lm = (recipe / "conf" / "lm_mini.conf").read_text()
    (recipe / "conf" / "tiny_lm.conf").write_text(lm + LM_SCHEDULE)
    _run(recipe, *TINY)
    return recipe


def test_stage0_data_dirs_pass_kaldi_validation(recipe: Path):
    names = (
        "vox1",
        "vox2_dev",
        "vox2_train",
        "vox2_heldout",
        "musan_noise",
        "musan_music",
        "musan_speech",
        "rirs",
        "vox2_cal",
        *EVAL_LISTS,
    )
    for name in names:
        subprocess.run(
            ["utils/validate_data_dir.sh", "--no-text", "--no-feats", f"data/{name}"],
            cwd=recipe,
            check=True,
            capture_output=True,
        )
    for name, lists in EVAL_LISTS.items():
        trials = sorted(p.name for p in (recipe / f"data/{name}/trials").iterdir())
        assert trials == [f"{lst}.kaldi" for lst in lists], name
        assert json.loads((recipe / f"data/{name}/corpus.json").read_text())["corpus"] == "mini"
    assert (recipe / "data/vox2_heldout/trials/heldout.kaldi").stat().st_size > 0
    labels = {line.split()[2] for line in (recipe / "data/vox2_cal/trials/calibration.kaldi").open()}
    assert labels == {"target", "nontarget"}


def test_training_stages_wrote_their_models(recipe: Path):
    for name in ("ssrfnet_student", "ssrfnet"):
        exp = recipe / "exp" / name
        assert (exp / "final.pt").is_file(), name
        assert (exp / "config.conf").is_file(), name
        assert "step" in (exp / "train.log").read_text()
        assert list((exp / "tensorboard").rglob("events.out.tfevents*")), name
    # the effective config is the tiny conf, reused later
    assert "--max-steps=6" in (recipe / "exp/ssrfnet/config.conf").read_text()


def test_every_test_utterance_has_an_embedding(recipe: Path, monkeypatch):
    import kaldiio

    monkeypatch.chdir(recipe)  # scp files name their arks relative to the recipe directory, as in Kaldi

    every = []
    for name in EVAL_LISTS:
        utts = [line.split()[0] for line in (recipe / f"data/{name}/utt2spk").read_text().splitlines()]
        embeddings = dict(kaldiio.load_scp(str(recipe / f"exp/ssrfnet/embeddings/{name}/xvector.scp")))
        assert sorted(embeddings) == sorted(utts), name
        assert all(vec.shape == (192,) for vec in embeddings.values())
        crops = dict(kaldiio.load_scp(str(recipe / f"exp/ssrfnet/embeddings/{name}/crops.scp")))
        assert all(c.shape == (EVAL_NUM_CROPS, 192) for c in crops.values()), name
        every += utts
    # stage 5 reads one table of all test sets
    combined = [line.split()[0] for line in (recipe / "exp/ssrfnet/embeddings/test/xvector.scp").open()]
    assert combined == sorted(every)


def test_eval_options_of_the_conf_reach_stage_4(recipe: Path, monkeypatch):
    import kaldiio

    assert f"--eval-num-crops={EVAL_NUM_CROPS}" in (recipe / "exp/ssrfnet/config.conf").read_text()
    monkeypatch.chdir(recipe)
    crops = dict(kaldiio.load_scp(str(recipe / "exp/ssrfnet/embeddings/vox1/crops.scp")))
    assert crops and all(matrix.shape == (EVAL_NUM_CROPS, 192) for matrix in crops.values())


def test_scores_results_and_export(recipe: Path):
    exp = recipe / "exp" / "ssrfnet"
    results = json.loads((exp / "results.json").read_text())
    table = (exp / "results.md").read_text()
    assert "EER" in table and "minDCF" in table
    every_list = [lst for lists in EVAL_LISTS.values() for lst in lists]
    assert sorted(results["lists"]) == sorted(every_list)
    for name in every_list:
        assert results["list_info"][name]["corpus"] == "mini", name
        assert f"| {name} | cosine, mean of crop x crop cosines (official) |" in table, name
        assert f"| {name} | AS-norm top-" in table, name
        assert (exp / "scores" / f"{name}.det.png").is_file(), name
        # crops, utt and their AS-norm, each also with affine and QMF calibration
        assert (exp / "scores" / f"{name}.result").read_text().count("EER") == 12, name
    assert "not comparable: mini stand-in, not VCMix" in table
    assert "**The mini run is not the paper's experiment**" in table
    assert (exp / "export" / "model.onnx").is_file()
    assert (exp / "export" / "model.pt").is_file()
    assert "EER" in (exp / "README.md").read_text()


def test_calibration_and_the_sanity_baseline_in_stage_5(recipe: Path):
    exp = recipe / "exp" / "ssrfnet"
    results = json.loads((exp / "results.json").read_text())
    every_list = [lst for lists in EVAL_LISTS.values() for lst in lists]
    fits = results["calibration"]["systems"]
    for system in ("crops_qmf", "crops_affine", "utt_qmf", "utt_affine"):
        # on the calibration trials of the held-out speakers: the LLRs beat the raw cosine scores
        assert fits[system]["cllr"] < fits[system]["cllr_raw_scores"], system
    for name in every_list:
        assert {"crops_qmf", "crops_affine", "utt_qmf"} <= set(results["lists"][name]), name
    assert (exp / "scores/calibration/crops_qmf.json").is_file()  # what verify decides with
    sanity = json.loads((recipe / "exp/mfcc_stats/results.json").read_text())
    assert sorted(sanity["lists"]) == sorted(every_list)
    assert sanity["model"]["parameters"] == 0 and "crops_qmf" in sanity["lists"]["vox1_O_cleaned"]
    table = (exp / "results.md").read_text()
    assert "What learning adds: the no-training sanity baseline" in table
    assert sorted(results["sanity_baseline"]["lists"]) == sorted(every_list)
    assert "| mfcc_stats | no |" in (recipe / "exp/ablation.md").read_text()


def test_rerunning_finished_stages_changes_nothing(recipe: Path):
    before = _digest(recipe / "data")
    results_before = (recipe / "exp/ssrfnet/results.json").read_text()
    final_before = hashlib.md5((recipe / "exp/ssrfnet/final.pt").read_bytes()).hexdigest()
    _run(recipe, *TINY, "--stage", "0", "--stop-stage", "1")
    assert _digest(recipe / "data") == before
    # training is finished: re-running stage 3 resumes from the latest checkpoint and leaves the model as is
    _run(recipe, *TINY, "--stage", "3", "--stop-stage", "3")
    assert hashlib.md5((recipe / "exp/ssrfnet/final.pt").read_bytes()).hexdigest() == final_before
    _run(recipe, *TINY, "--stage", "5", "--stop-stage", "5")
    assert (recipe / "exp/ssrfnet/results.json").read_text() == results_before


@pytest.fixture(scope="module")
def baseline(recipe: Path) -> dict:
    """ReDimNet-B2 by conf swap (stages 2-6: stage 2 skipped), then its LMFT (stage 7)."""
    main = _run(recipe, *BASELINE, "--stage", "2", "--stop-stage", "6")
    lmft = _run(recipe, *BASELINE, "--stage", "7", "--stop-stage", "7", "--lm-conf", "conf/tiny_lm.conf")
    return {"main": main.stdout, "lmft": lmft.stdout}


def test_a_baseline_is_a_conf_swap(recipe: Path, baseline):
    assert "stage 2: skipped: --model-type=redimnet has no student" in baseline["main"]
    assert "stage 3: redimnet training (AAM-softmax alone) -> exp/redimnet_b2" in baseline["main"]
    exp = recipe / "exp" / "redimnet_b2"
    assert not (recipe / "exp/redimnet_b2_student").exists()
    assert "--model-type=redimnet" in (exp / "config.conf").read_text()
    assert "--exp-name=redimnet_b2" in (exp / "config.conf").read_text()
    results = json.loads((exp / "results.json").read_text())
    assert "crops_qmf" in results["lists"]["vox1_O_cleaned"] and "sanity_baseline" in results
    assert (exp / "export" / "model.onnx").is_file()


def test_large_margin_fine_tuning_stage(recipe: Path, baseline):
    exp = recipe / "exp" / "redimnet_b2_lm"
    log = (exp / "train.log").read_text()
    assert "mode lmft:" in log and "crop 96000 samples" in log  # ReDimNet takes 6 s crops
    assert "AAM head initialised from exp/redimnet_b2/final.pt" in log and "AAM margin 0.3000" in log
    assert "--lm-margin=0.3" in (exp / "config.conf").read_text()
    assert json.loads((exp / "results.json").read_text())["lists"]["vox1_O_cleaned"]["crops"]["eer"] >= 0
    assert (exp / "export" / "model.onnx").is_file() and (exp / "embeddings/test/xvector.scp").is_file()


def test_ablation_table_from_the_experiment_dirs(recipe: Path, baseline):
    blob = json.loads((recipe / "exp/ablation.json").read_text())
    names = {(e["experiment"], e["lmft"]) for e in blob["experiments"]}
    assert names == {("ssrfnet", False), ("redimnet_b2", False), ("redimnet_b2", True), ("mfcc_stats", False)}
    table = (recipe / "exp/ablation.md").read_text()
    # AS-norm's N is the cohort's size when it has fewer speakers than --asnorm-top-n: 2 in the tiny corpus
    for row in ("| vox1_O_cleaned | redimnet_b2 | no | crops | – | none |",
                "| vox1_O_cleaned | redimnet_b2 | yes | crops | – | qmf |",
                "| vox1_O_cleaned | redimnet_b2 | yes | crops | top-2 | none |",
                "| vox1_O_cleaned | ssrfnet | no | crops | top-2 | qmf |",
                "| sitw_eval_core-core | mfcc_stats | no | utt | – | affine |"):
        assert row in table, row
    keys = [(r["trials"], r["experiment"], r["lmft"]) for r in blob["rows"]]
    assert keys == sorted(keys)
    before = (recipe / "exp/ablation.md").read_bytes()
    subprocess.run(["local/ablation.sh", "exp"], cwd=recipe, check=True, capture_output=True)
    assert (recipe / "exp/ablation.md").read_bytes() == before
