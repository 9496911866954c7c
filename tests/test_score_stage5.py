"""Stage 5 as run.sh runs it, through ssrfnet.bin.score: two test sets scored from one combined embedding
table, calibrated on calibration trials of other speakers with the durations of both sets' utt2dur (Cllr
of the LLRs below that of the raw scores on the held-out test trials), and the no-training sanity baseline
beside the model in results.md."""

from __future__ import annotations

import json

import kaldiio
import numpy as np
import pytest

from ssrfnet.scoring.metrics import compute_cllr, read_scores

DIM = 12


def write_set(root, name, utts, centres, rng, emb_dir):
    """A data dir (utt2dur) and embeddings whose noise shrinks with the utterance's duration."""
    data = root / "data" / name
    data.mkdir(parents=True)
    (data / "utt2dur").write_text("".join(f"{k} {d:.3f}\n" for k, (_, d) in sorted(utts.items())))
    vec, crops = {}, {}
    for key, (spk, dur) in sorted(utts.items()):
        c = centres[spk] + (1.5 / np.sqrt(dur)) * rng.normal(size=(4, DIM))
        crops[key], vec[key] = c.astype(np.float32), c.mean(axis=0).astype(np.float32)
    emb_dir.mkdir(parents=True, exist_ok=True)
    kaldiio.save_ark(str(emb_dir / f"{name}.xv.ark"), vec, scp=str(emb_dir / f"{name}.xv.scp"))
    kaldiio.save_ark(str(emb_dir / f"{name}.cr.ark"), crops, scp=str(emb_dir / f"{name}.cr.scp"))
    return data


def trials_of(utts, rng, n):
    keys = sorted(utts)
    lines = set()
    while len(lines) < n:
        e, t = rng.choice(keys, 2, replace=False)
        lines.add(f"{e} {t} {'target' if utts[e][0] == utts[t][0] else 'nontarget'}\n")
    return "".join(sorted(lines))


@pytest.fixture(scope="module")
def stage4(tmp_path_factory):
    """data/{seta,setb,cal}, the combined test table emb/test, emb/cal, and one trial list per set."""
    root = tmp_path_factory.mktemp("stage5")
    rng = np.random.default_rng(3)
    speakers = [f"s{i:02d}" for i in range(36)]
    centres = {s: rng.normal(size=DIM) * 3 / np.sqrt(DIM) for s in speakers}

    def utts(prefix, spks, per, lo, hi):
        return {f"{prefix}-{s}-{u}": (s, float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
                for s in spks for u in range(per)}

    sets = {"seta": utts("a", speakers[:8], 6, 1.5, 12), "setb": utts("b", speakers[8:16], 6, 1.5, 12)}
    test_dir = root / "emb" / "test"
    for name, table in sets.items():
        data = write_set(root, name, table, centres, rng, test_dir)
        (data / "trials").mkdir()
        (data / "trials" / f"{name}_list.kaldi").write_text(trials_of(table, rng, 600))
    for kind, glob in (("xvector", "*.xv.scp"), ("crops", "*.cr.scp")):
        lines = sorted(line for scp in sorted(test_dir.glob(glob)) for line in scp.read_text().splitlines())
        (test_dir / f"{kind}.scp").write_text("".join(f"{line}\n" for line in lines))
    cal = {}
    for s in speakers[16:]:
        for u in range(4):
            cal[f"c-{s}-{u}-long"] = (s, float(rng.uniform(6.5, 12.0)))
            cal[f"c-{s}-{u}-short"] = (s, float(rng.uniform(1.5, 6.0)))
    cal_emb = root / "emb" / "cal"
    data = write_set(root, "cal", cal, centres, rng, cal_emb)
    for kind, suffix in (("xvector", "xv"), ("crops", "cr")):
        (cal_emb / f"{kind}.scp").write_text((cal_emb / f"cal.{suffix}.scp").read_text())
    (data / "trials").mkdir()
    (data / "trials" / "calibration.kaldi").write_text("".join(
        f"{e} {t} {'target' if cal[e][0] == cal[t][0] else 'nontarget'}\n"
        for e in sorted(cal) if e.endswith("-long") for t in sorted(cal)
        if t.endswith("-short") and e[:-5] != t[:-6]))
    return root


def score_args(root, exp, *extra):
    return ["--exp-dir", str(root / exp), "--emb-dir", str(root / "emb" / "test"), "--det", "false",
            "--eval-protocol", "crops", "--trials", str(root / "data/seta/trials/seta_list.kaldi"),
            str(root / "data/setb/trials/setb_list.kaldi"), *extra]


def cal_args(root):
    return ["--cal-emb", str(root / "emb" / "cal"), "--cal-data", str(root / "data" / "cal"),
            "--eval-data", str(root / "data" / "seta"), str(root / "data" / "setb")]


def test_calibration_of_every_set_from_one_table(stage4, capsys):
    from ssrfnet.bin import score

    root = stage4
    assert score.main(score_args(root, "exp", *cal_args(root))) == 0
    results = json.loads((root / "exp" / "results.json").read_text())
    cal = results["calibration"]
    assert cal["eval_durations"] == f"{root}/data/seta/utt2dur, {root}/data/setb/utt2dur"
    for system in ("crops_qmf", "crops_affine", "utt_qmf", "utt_affine"):
        fit = cal["systems"][system]
        assert fit["cllr"] < fit["cllr_raw_scores"], system  # on the calibration trials
    for name in ("seta_list", "setb_list"):  # on held-out test trials: other speakers, never fitted on
        systems = results["lists"][name]
        for base in ("crops", "utt"):
            raw = read_scores(root / "exp" / "scores" / f"{name}.{base}.score")
            assert systems[f"{base}_qmf"]["cllr"] < compute_cllr(raw.scores, raw.labels), (name, base)
            assert systems[f"{base}_affine"]["cllr"] < compute_cllr(raw.scores, raw.labels), (name, base)
    assert (root / "exp" / "scores" / "calibration" / "crops_qmf.json").is_file()


def test_durations_must_cover_every_test_set(stage4, capsys):
    from ssrfnet.bin import score

    root = stage4
    argv = score_args(root, "exp_a", "--cal-emb", str(root / "emb" / "cal"), "--cal-data",
                      str(root / "data" / "cal"), "--eval-data", str(root / "data" / "seta"))
    assert score.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "seta/utt2dur: no duration for utterance 'b-" in err[0]
    assert "setb_list.kaldi" in err[0]
    assert score.main(score_args(root, "exp_b", "--cal-emb", str(root / "emb" / "cal"))) == 1
    assert "--cal-emb and --cal-data go together" in capsys.readouterr().err


def test_sanity_baseline_beside_the_model(stage4, capsys):
    from ssrfnet.bin import score

    root = stage4
    assert score.main(score_args(root, "mfcc_stats")) == 0
    sanity = root / "mfcc_stats" / "results.json"
    assert score.main(score_args(root, "model", "--sanity-results", str(sanity))) == 0
    results = json.loads((root / "model" / "results.json").read_text())
    ours = json.loads(sanity.read_text())["lists"]
    assert results["sanity_baseline"]["lists"]["seta_list"]["crops"] == ours["seta_list"]["crops"]
    md = (root / "model" / "results.md").read_text()
    assert "What learning adds: the no-training sanity baseline" in md
    eer, theirs = results["lists"]["setb_list"]["utt"]["eer"], ours["setb_list"]["utt"]["eer"]
    assert f"| setb_list | cosine, utterance embeddings | {eer:.3f} | {theirs:.3f} |" in md
    assert "[the ablation table](../ablation.md)" in md
    capsys.readouterr()
    assert score.main(score_args(root, "model2", "--sanity-results", str(root / "none.json"))) == 1
    assert "none.json: not a readable stage-5 results file of the sanity baseline" in capsys.readouterr().err


def test_init_model_writes_the_sanity_baseline(tmp_path, capsys):
    import torch

    from ssrfnet.bin import init_model
    from ssrfnet.models import load_model
    from ssrfnet.models.baseline import MFCCStats

    out = tmp_path / "mfcc_stats" / "final.pt"
    assert init_model.main(["--model-type=mfcc_stats", "--out", str(out)]) == 0
    assert "0 parameters, embedding size 60" in capsys.readouterr().out
    model = load_model(out)
    assert isinstance(model, MFCCStats) and model.embed_dim == 60
    assert torch.load(out, weights_only=True)["untrained"] == {"seed": 0}
    wave = torch.randn(1, 24000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model(wave), MFCCStats()(wave))
    assert init_model.main(["--model-type=mfcc_stats", "--ecapa-channels=8", "--out", str(out)]) == 1
    assert "--ecapa-channels does not apply to --model-type=mfcc_stats" in capsys.readouterr().err
