"""Stage 5 end to end on tiny synthetic embeddings: score files, metrics, DET PNG, tables, threshold."""

import json

import kaldiio
import numpy as np
import pytest

from ssrfnet.bin import score as score_cli
from ssrfnet.scoring.cosine import EmbeddingError, load_embeddings
from ssrfnet.scoring.metrics import ScoreError, read_scores
from ssrfnet.scoring.report import replace_section, update_readme

from helpers import REPO

DIM = 16


def make_emb_dir(path, speakers, utts_per_spk, rng, centres, dim=DIM, crops=True, bad_key=None):
    path.mkdir(parents=True, exist_ok=True)
    vec, crp, utt2spk = {}, {}, {}
    for s in speakers:
        for u in range(utts_per_spk):
            key = f"{s}-utt{u}"
            c = centres[s] + 0.6 * rng.normal(size=(10, dim))
            if key == bad_key:
                c = rng.normal(size=(10, dim + 1))
            crp[key] = c.astype(np.float32)
            vec[key] = c.mean(axis=0).astype(np.float32)
            utt2spk[key] = s
    kaldiio.save_ark(str(path / "xvector.ark"), vec, scp=str(path / "xvector.scp"))
    if crops:
        kaldiio.save_ark(str(path / "crops.ark"), crp, scp=str(path / "crops.scp"))
    return utt2spk


def write_trials(path, utt2spk, rng, n=80):
    keys = sorted(utt2spk)
    lines = []
    for _ in range(n):
        e, t = rng.choice(keys, 2, replace=False)
        lines.append(f"{e} {t} {'target' if utt2spk[e] == utt2spk[t] else 'nontarget'}")
    # guarantee both classes
    lines.append(f"{keys[0]} {keys[1]} target")
    lines.append(f"{keys[0]} {keys[-1]} nontarget")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    spk = [f"id{i:03d}" for i in range(20)]
    centres = {s: rng.normal(size=DIM) for s in spk}
    test_u2s = make_emb_dir(tmp_path / "emb" / "test", spk[:6], 4, rng, centres)
    cohort_u2s = make_emb_dir(tmp_path / "emb" / "train", spk[6:], 3, rng, centres, crops=False)
    dev_u2s = make_emb_dir(tmp_path / "emb" / "dev", spk[6:12], 3, rng, centres)
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in sorted(cohort_u2s.items())))
    trials = write_trials(tmp_path / "trials" / "test_O.kaldi", test_u2s, rng)
    trials2 = write_trials(tmp_path / "trials" / "test_E.kaldi", test_u2s, rng, n=120)
    dev = write_trials(tmp_path / "trials" / "heldout.kaldi", dev_u2s, rng)
    return tmp_path, trials, trials2, dev, test_u2s


def test_score_end_to_end(setup, capsys):
    tmp, trials, trials2, dev, _ = setup
    exp = tmp / "exp"
    argv = [
        "--exp-dir", str(exp), "--emb-dir", str(tmp / "emb" / "test"), "--trials", trials, trials2,
        "--asnorm", "true", "--asnorm-top-n", "5", "--cohort-emb", str(tmp / "emb" / "train"),
        "--cohort-data", str(tmp / "train"), "--dev-trials", dev, "--dev-emb", str(tmp / "emb" / "dev"),
        "--eval-subtract-mean", "true",
    ]
    assert score_cli.main(argv) == 0, capsys.readouterr().err
    for name in ("test_O", "test_E"):
        for system in ("crops", "utt", "crops_asnorm5", "utt_asnorm5"):
            s = read_scores(exp / "scores" / f"{name}.{system}.score")
            assert len(s.scores) in (82, 122)
        png = exp / "scores" / f"{name}.det.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "EER = " in (exp / "scores" / f"{name}.result").read_text()
    results = json.loads((exp / "results.json").read_text())
    assert set(results["lists"]) == {"test_O", "test_E"}
    m = results["lists"]["test_O"]["crops"]
    assert 0 <= m["eer"] < 20  # well separated speakers
    assert {"min_dcf_0.01", "min_dcf_0.05"} <= set(m)
    md = (exp / "results.md").read_text()
    assert "| test_O | cosine, mean of crop x crop cosines (official) |" in md
    assert "AS-norm top-5" in md
    th = json.loads((exp / "scores" / "threshold.json").read_text())
    assert th["protocol"] == "crops" and th["trials"] == dev and np.isfinite(th["threshold"])
    assert (exp / "scores" / "mean_vec.npy").is_file()
    readme = (exp / "README.md").read_text()
    # regenerating replaces the section instead of appending a second copy
    assert score_cli.main(argv) == 0
    again = (exp / "README.md").read_text()
    assert again.count("ssrfnet:results begin") == 1 and again == readme


def test_missing_embedding_names_trial_file_line_and_key(setup, capsys):
    tmp, trials, _, _, _ = setup
    with open(trials, "a") as handle:
        handle.write("id000-utt0 id999-nosuch target\n")
    with open(trials) as handle:
        n_lines = len(handle.read().splitlines())
    emb = str(tmp / "emb" / "test")
    rc = score_cli.main(["--exp-dir", str(tmp / "exp"), "--emb-dir", emb, "--trials", trials])
    assert rc == 1
    err = capsys.readouterr().err
    assert f"{trials}:{n_lines}" in err and "id999-nosuch" in err


def test_wrong_embedding_size_names_key(tmp_path):
    rng = np.random.default_rng(1)
    centres = {"a": np.zeros(DIM), "b": np.ones(DIM)}
    make_emb_dir(tmp_path, ["a", "b"], 2, rng, centres, bad_key="b-utt1")
    with pytest.raises(EmbeddingError, match=r"'b-utt1' has size \(17,\), expected \(16,\)"):
        load_embeddings(tmp_path)
    with pytest.raises(EmbeddingError, match="b-utt1"):
        load_embeddings(tmp_path, dim=DIM)


def test_one_class_trial_list_is_a_clear_error(setup, capsys):
    tmp, _, _, _, u2s = setup
    keys = sorted(u2s)
    only = tmp / "only_non.kaldi"
    only.write_text(f"{keys[0]} {keys[-1]} nontarget\n{keys[1]} {keys[-2]} nontarget\n")
    rc = score_cli.main(["--exp-dir", str(tmp / "exp"), "--emb-dir", str(tmp / "emb" / "test"),
                         "--trials", str(only)])
    assert rc == 1
    assert "undefined" in capsys.readouterr().err


def test_replace_section_idempotent(tmp_path):
    text = replace_section("# exp\n\nnotes\n", "results", "table 1")
    assert replace_section(text, "results", "table 1") == text
    text2 = replace_section(text + "\nmore notes\n", "results", "table 2")
    assert "table 2" in text2 and "table 1" not in text2 and text2.endswith("more notes\n")
    update_readme(tmp_path / "README.md", "export", "Export", "x")
    update_readme(tmp_path / "README.md", "export", "Export", "y")
    body = (tmp_path / "README.md").read_text()
    assert body.count("## Export") == 1 and "\ny\n" in body


def test_score_file_with_nan_via_cli(tmp_path, capsys):
    from ssrfnet.bin import compute_metrics

    p = tmp_path / "x.score"
    p.write_text("a b 0.1 target\na c NaN nontarget\n")
    assert compute_metrics.main(["--scores", str(p)]) == 1
    assert f"{p}:2" in capsys.readouterr().err
    with pytest.raises(ScoreError):
        read_scores(p)


def test_score_step_script(setup):
    import os
    import subprocess

    root = REPO
    tmp, trials, _, dev, _ = setup
    exp = tmp / "exp_sh"
    env = dict(os.environ, PATH=f"{root}/.venv/bin:{root}/utils:{os.environ['PATH']}", PYTHONPATH=str(root))
    cmd = [str(root / "steps/score.sh"), "--asnorm", "true", "--top-n", "4",
           "--cohort", str(tmp / "emb" / "train"), "--cohort-data", str(tmp / "train"),
           "--dev-trials", dev, "--dev-emb", str(tmp / "emb" / "dev"),
           str(exp), str(tmp / "emb" / "test"), trials]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "AS-norm top-4" in proc.stdout
    assert (exp / "scores" / "test_O.crops_asnorm4.score").is_file()
    assert (exp / "scores" / "threshold.json").is_file()
