"""The ablation table over experiment dirs: rows, their order, strict JSON, the shell script, errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ssrfnet.scoring.ablation import AblationError, build_ablation, parse_system, write_ablation

from helpers import REPO

P_TARGETS = [0.01, 0.05]


def metrics(eer: float, calibrated: bool = False, n: int = 37611) -> dict:
    """The shape stage 5 writes for one system (ssrfnet.scoring.metrics.compute_metrics)."""
    m = {
        "num_trials": n,
        "num_target": n // 2,
        "num_nontarget": n - n // 2,
        "eer": eer,
        "eer_threshold": 0.31,
        "min_dcf_0.01": eer / 10,
        "min_dcf_0.01_threshold": 0.5,
        "min_dcf_0.05": eer / 15,
        "min_dcf_0.05_threshold": 0.45,
    }
    if calibrated:
        m.update(
            {
                "cllr": eer / 20,
                "min_cllr": eer / 25,
                "act_dcf_0.01": eer / 9,
                "act_dcf_0.05": eer / 14,
                "act_dcf_0.01_threshold": 4.595,
                "act_dcf_0.05_threshold": 2.944,
            }
        )
    return m


def write_exp(
    root: Path,
    name: str,
    lists: dict[str, dict[str, float]],
    params: int | None = 75_164_380,
    calibrated: bool = False,
) -> None:
    systems = {}
    for list_name, eers in lists.items():
        systems[list_name] = {}
        for system, eer in eers.items():
            systems[list_name][system] = metrics(eer, calibrated and system.endswith(("_qmf", "_affine")))
    results = {
        "exp_dir": str(root / name),
        "p_targets": P_TARGETS,
        "protocol": "crops",
        "lists": systems,
        "model": {} if params is None else {"parameters": params, "macs": 1.2e10},
    }
    if calibrated:
        results["calibration"] = {"prior": 0.05, "trials": "data/vox2_cal/trials/calibration.kaldi"}
    (root / name).mkdir(parents=True)
    (root / name / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    (root / name / "results.md").write_text("# Results\n")


def make_exps(root: Path, order=("ssrfnet", "ssrfnet_lm", "redimnet_b2", "mfcc_stats", "odd")) -> None:
    full = {
        "crops": 0.9,
        "crops_asnorm300": 0.8,
        "utt": 1.0,
        "crops_qmf": 0.75,
        "crops_affine": 0.9,
        "crops_asnorm300_qmf": 0.7,
    }
    builders = {
        "ssrfnet": lambda: write_exp(
            root, "ssrfnet", {"vox1_O_cleaned": full, "vox1_E_cleaned": full}, calibrated=True
        ),
        "ssrfnet_lm": lambda: write_exp(
            root, "ssrfnet_lm", {"vox1_O_cleaned": {k: v * 0.9 for k, v in full.items()}}, calibrated=True
        ),
        "redimnet_b2": lambda: write_exp(
            root, "redimnet_b2", {"vox1_O_cleaned": {"crops": 1.1, "crops_asnorm300": 1.0}}, params=4_700_000
        ),
        "mfcc_stats": lambda: write_exp(root, "mfcc_stats", {"vox1_O_cleaned": {"utt": 25.0}}, params=0),
        "odd": lambda: write_exp(root, "odd", {"vox1_O_cleaned": {"fancy_system": 3.0}}, params=None),
    }
    for name in order:
        builders[name]()
    (root / "svmixer").mkdir()  # stage 2 only: no results.json, not an experiment of the table


def test_parse_system():
    assert parse_system("crops") == ("crops", None, "none")
    assert parse_system("utt_asnorm300") == ("utt", 300, "none")
    assert parse_system("crops_asnorm300_qmf") == ("crops", 300, "qmf")
    assert parse_system("utt_affine") == ("utt", None, "affine")
    assert parse_system("fancy_system") == ("fancy_system", None, "none")


def test_rows_and_their_order(tmp_path):
    make_exps(tmp_path)
    blob, text = build_ablation(tmp_path)
    rows = blob["rows"]
    assert [e["name"] for e in blob["experiments"]] == [
        "mfcc_stats",
        "odd",
        "redimnet_b2",
        "ssrfnet",
        "ssrfnet_lm",
    ]
    assert len(rows) == 6 + 6 + 6 + 2 + 1 + 1
    keys = [
        (r["trials"], r["experiment"], r["lmft"], r["protocol"], r["asnorm_top_n"] or -1, r["calibration"])
        for r in rows
    ]
    # E before O; experiments by name with the LMFT run after its base; crops before utt; AS-norm after
    # plain; calibration none < affine < qmf
    assert keys[:6] == [
        ("vox1_E_cleaned", "ssrfnet", False, "crops", -1, "none"),
        ("vox1_E_cleaned", "ssrfnet", False, "crops", -1, "affine"),
        ("vox1_E_cleaned", "ssrfnet", False, "crops", -1, "qmf"),
        ("vox1_E_cleaned", "ssrfnet", False, "crops", 300, "none"),
        ("vox1_E_cleaned", "ssrfnet", False, "crops", 300, "qmf"),
        ("vox1_E_cleaned", "ssrfnet", False, "utt", -1, "none"),
    ]
    o_rows = [k[1:3] for k in keys if k[0] == "vox1_O_cleaned"]
    assert o_rows == sorted(o_rows) and o_rows[0] == ("mfcc_stats", False) and o_rows[-1] == ("ssrfnet", True)
    lm = [r for r in rows if r["lmft"]]
    assert {r["experiment"] for r in lm} == {"ssrfnet"} and all(
        r["exp_dir"].endswith("ssrfnet_lm") for r in lm
    )
    qmf = next(
        r
        for r in rows
        if r["trials"] == "vox1_O_cleaned" and r["system"] == "crops_asnorm300_qmf" and not r["lmft"]
    )
    assert (
        qmf["eer"] == 0.7
        and qmf["cllr"] == pytest.approx(0.035)
        and qmf["act_dcf_0.01"] == pytest.approx(0.7 / 9)
    )
    plain = next(r for r in rows if r["experiment"] == "redimnet_b2" and r["system"] == "crops")
    assert plain["cllr"] is None and plain["act_dcf_0.05"] is None and plain["parameters"] == 4_700_000
    # the markdown rows follow the JSON rows
    table = [line for line in text.splitlines() if line.startswith("| vox1")]
    assert len(table) == len(rows)
    assert table[0].startswith(
        "| vox1_E_cleaned | ssrfnet | no | crops | – | none | 0.900 | 0.0900 | 0.0600 | – |"
    )
    assert "| vox1_O_cleaned | ssrfnet | yes | crops | top-300 | qmf | 0.630 |" in text
    assert "| vox1_O_cleaned | odd | no | fancy_system | – | none | 3.000 |" in text
    assert "[ssrfnet_lm](ssrfnet_lm/results.md)" in text


def test_output_is_deterministic_and_strict(tmp_path):
    make_exps(tmp_path / "a")
    make_exps(tmp_path / "b", order=("odd", "mfcc_stats", "ssrfnet_lm", "redimnet_b2", "ssrfnet"))
    for root in ("a", "b"):
        write_ablation(tmp_path / root)
    for name in ("ablation.md", "ablation.json"):
        a = (tmp_path / "a" / name).read_text().replace(str(tmp_path / "a"), "ROOT")
        b = (tmp_path / "b" / name).read_text().replace(str(tmp_path / "b"), "ROOT")
        assert a == b
    before = (tmp_path / "a" / "ablation.json").read_bytes()
    write_ablation(tmp_path / "a")  # ablation files themselves are not experiments
    assert (tmp_path / "a" / "ablation.json").read_bytes() == before
    json.loads(before, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_errors(tmp_path):
    with pytest.raises(AblationError, match="no such experiment directory"):
        build_ablation(tmp_path / "none")
    (tmp_path / "svmixer").mkdir()
    with pytest.raises(AblationError, match=r"no finished experiment \(no .*/<name>/results\.json"):
        build_ablation(tmp_path)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "results.json").write_text("{not json")
    with pytest.raises(AblationError, match=r"broken/results\.json: not a readable results file"):
        build_ablation(tmp_path)
    (tmp_path / "broken" / "results.json").write_text('{"model": {}}')
    with pytest.raises(AblationError, match=r"broken/results\.json: no 'lists'"):
        build_ablation(tmp_path)


def test_shell_script(tmp_path):
    exp = tmp_path / "exp"
    make_exps(exp)
    env = dict(os.environ, LC_ALL="C")
    run = subprocess.run(
        ["bash", "local/ablation.sh", str(exp)],
        cwd=REPO / "egs" / "voxceleb",
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "22 rows from 5 experiment(s)" in run.stdout
    blob, text = build_ablation(exp)
    assert (exp / "ablation.md").read_text() == text
    assert json.loads((exp / "ablation.json").read_text()) == blob
    bad = subprocess.run(
        ["bash", "local/ablation.sh", str(tmp_path / "nothing")],
        cwd=REPO / "egs" / "voxceleb",
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 1 and "no such directory" in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run(
        ["bash", "local/ablation.sh", str(empty)],
        cwd=REPO / "egs" / "voxceleb",
        capture_output=True,
        text=True,
        env=env,
    )
    assert (
        bad.returncode == 1 and "ablation: error: " in bad.stderr and "no finished experiment" in bad.stderr
    )
