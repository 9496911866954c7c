"""Results beside the paper: the published column, its notes, and the corpus each list came from."""

from __future__ import annotations

import json

import kaldiio
import numpy as np

from ssrfnet.scoring.pipeline import list_info, score_experiment
from ssrfnet.scoring.published import PUBLISHED, published_cell, published_notes
from ssrfnet.scoring.report import results_markdown, write_results

METRICS = {"eer": 1.234, "min_dcf_0.01": 0.1, "min_dcf_0.05": 0.05, "num_trials": 100}
LISTS = (
    "vox1_O_cleaned",
    "vox1_E_cleaned",
    "vox1_H_cleaned",
    "vcmix_test",
    "voxsrc23_test",
    "voices_eval",
    "voices_dev",
    "cnceleb1_eval",
    "sitw_eval_core-core",
)


def _results(corpus: str, parameters: int = 75_164_380, subtract_mean: bool = False) -> dict:
    systems = {"crops": METRICS, "utt": METRICS, "crops_asnorm300": METRICS}
    return {
        "lists": {name: dict(systems) for name in LISTS},
        "list_info": {name: {"corpus": corpus} for name in LISTS},
        "model": {"parameters": parameters},
        "subtract_mean": subtract_mean,
        "p_targets": [0.01, 0.05],
    }


def _row(table: str, list_name: str, system_title: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(f"| {list_name} | {system_title}"))


def test_real_data_shows_the_published_figure_on_the_official_protocol_only():
    results = _results("real")
    table = results_markdown(results)
    official = "cosine, mean of crop x crop cosines (official)"
    assert _row(table, "vox1_O_cleaned", official).endswith(
        "| 0.601, minDCF(0.05) 0.041 (SSRFNet paper, Tables 1-2) |"
    )
    assert "| 0.800 (SSRFNet paper, Table 1) |" in _row(table, "vox1_E_cleaned", official)
    assert "| 2.47 (SSRFNet paper, Table 3; 2.467 in the text) |" in _row(table, "vcmix_test", official)
    assert "| 4.14 (SSRFNet paper, Table 3; 4.136 in the text) |" in _row(table, "voxsrc23_test", official)
    assert "| 8.55 (official repository README, commit 3b052e2) |" in _row(table, "voices_eval", official)
    for name in ("voices_dev", "cnceleb1_eval", "sitw_eval_core-core"):
        assert _row(table, name, official).endswith("| not reported |")
    assert _row(table, "vox1_O_cleaned", "cosine, utterance embeddings").endswith("| - |")
    assert _row(table, "vcmix_test", "AS-norm top-300 on crops").endswith("| - |")
    assert "parameters, the paper's" not in table  # the paper's configuration: no caveat
    # every list has its rows
    assert all(f"| {name} |" in table for name in LISTS)


def test_other_configurations_are_flagged():
    notes = " ".join(published_notes(_results("real", parameters=3_210_000)))
    assert "3,210,000 parameters, the paper's 75,164,380" in notes
    results = _results("real", subtract_mean=True)
    assert published_cell("vox1_O_cleaned", "crops", results) == "-"


def test_the_mini_corpus_says_what_it_is_not():
    results = _results("mini", parameters=3_210_000)
    table = results_markdown(results)
    official = "cosine, mean of crop x crop cosines (official)"
    assert _row(table, "vox1_O_cleaned", official).endswith(
        "| not comparable: mini stand-in, not VoxCeleb1-O |"
    )
    assert _row(table, "vcmix_test", official).endswith("| not comparable: mini stand-in, not VCMix |")
    assert _row(table, "cnceleb1_eval", official).endswith(
        "| not comparable: mini stand-in, not CN-Celeb1 eval |"
    )
    # no published figure in any row, only in the note under the table
    rows = [line for line in table.splitlines() if line.startswith("| vox1") or line.startswith("| v")]
    assert not any("0.601" in row or "SSRFNet paper" in row for row in rows)
    assert "**The mini run is not the paper's experiment**" in table and "3.2 M-parameter" in table
    assert "VoxCeleb1-O 0.601, minDCF(0.05) 0.041" in table


def test_results_json_records_the_published_figures(tmp_path):
    write_results(tmp_path, _results("real"))
    published = json.loads((tmp_path / "results.json").read_text())["published"]
    assert published["vox1_O_cleaned"] == {
        "comparable": True,
        "eer": 0.601,
        "min_dcf": {"0.05": 0.041},
        "real_list": "VoxCeleb1-O",
        "source": "SSRFNet paper, Tables 1-2",
        "system": "crops",
    }
    assert published["sitw_eval_core-core"] == {
        "comparable": False,
        "real_list": "SITW eval core-core",
        "system": "crops",
    }
    assert set(PUBLISHED) <= set(published)
    write_results(tmp_path, _results("mini"))
    assert not json.loads((tmp_path / "results.json").read_text())["published"]["vox1_O_cleaned"][
        "comparable"
    ]


def test_list_info_reads_the_data_dir_corpus_json(tmp_path):
    trials = tmp_path / "data" / "vcmix" / "trials" / "vcmix_test.kaldi"
    trials.parent.mkdir(parents=True)
    trials.write_text("a b target\n")
    assert list_info(trials) == {"trials": str(trials)}
    (tmp_path / "data/vcmix/corpus.json").write_text(
        json.dumps({"set": "vcmix", "title": "VCMix", "corpus": "mini", "root": "/x"})
    )
    assert list_info(trials) == {"trials": str(trials), "set": "vcmix", "title": "VCMix", "corpus": "mini"}


def test_stage5_table_from_mini_stand_in_lists(tmp_path):
    """score_experiment on two lists of a 'mini' data dir: the table has their rows and the mini note."""
    rng = np.random.default_rng(1)
    emb = tmp_path / "emb"
    emb.mkdir()
    keys = [f"voxsrc23-{n:06d}" for n in range(6)]
    centres = rng.normal(size=(3, 8))
    crops = {
        k: (centres[i // 2] + 0.3 * rng.normal(size=(10, 8))).astype(np.float32) for i, k in enumerate(keys)
    }
    kaldiio.save_ark(str(emb / "crops.ark"), crops, scp=str(emb / "crops.scp"))
    kaldiio.save_ark(
        str(emb / "xvector.ark"), {k: v.mean(0) for k, v in crops.items()}, scp=str(emb / "xvector.scp")
    )
    data = tmp_path / "data" / "voxsrc23"
    (data / "trials").mkdir(parents=True)
    (data / "corpus.json").write_text(
        json.dumps({"set": "voxsrc23", "title": "VoxSRC-23 test", "corpus": "mini"})
    )
    lines = [
        f"{keys[a]} {keys[b]} {'target' if a // 2 == b // 2 else 'nontarget'}"
        for a in range(6)
        for b in range(a + 1, 6)
    ]
    (data / "trials" / "voxsrc23_test.kaldi").write_text("\n".join(lines) + "\n")
    results = score_experiment(
        tmp_path / "exp", emb, [str(data / "trials" / "voxsrc23_test.kaldi")], det=False
    )
    assert results["list_info"]["voxsrc23_test"]["corpus"] == "mini"
    table = (tmp_path / "exp" / "results.md").read_text()
    assert "| voxsrc23_test | cosine, mean of crop x crop cosines (official) |" in table
    assert "not comparable: mini stand-in, not VoxSRC-23 test" in table
