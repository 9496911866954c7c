"""verify and evaluate CLIs with a small real model (ssrfnet.models.build_model)."""

import json

import numpy as np
import pytest
import torch

from ssrfnet.audio import write_wav

SMALL = dict(model_type="ssrfnet", embed_dim=192, svmixer_layers=4, svmixer_hidden=128,
             svmixer_cnn_channels=32, svmixer_group_dim=32, redimnet_freq=16, redimnet_channels=8,
             pfm_windows=2, pfm_layers=2, redimnet_stages="1:1:1:4,2:1:1:4")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    models = pytest.importorskip("ssrfnet.models")
    torch.manual_seed(0)
    model = models.build_model(SMALL).eval()
    path = tmp_path_factory.mktemp("model") / "final.pt"
    models.save_model(model, SMALL, path)
    return path


def tone(path, freq, seconds, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    write_wav(path, 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size))
    return str(path)


def test_verify_cli(small_model, tmp_path, capsys):
    from ssrfnet.bin import verify

    a = tone(tmp_path / "a.wav", 220, 3.5, 0)
    b = tone(tmp_path / "b.wav", 220, 2.0, 1)
    base = ["--model", str(small_model), "--eval-num-crops", "2"]
    assert verify.main(base + ["--threshold", "-1.5", a, b]) == 0
    assert "-> same speaker" in capsys.readouterr().out
    assert verify.main(base + ["--threshold", "1.5", a, b]) == 0
    assert "-> different speakers" in capsys.readouterr().out
    th = tmp_path / "th.json"
    th.write_text(json.dumps({"threshold": 0.25, "protocol": "crops"}))
    assert verify.main(base + ["--threshold-file", str(th), "--json", a, a]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["score"] > 0.99 and res["same_speaker"] is True
    assert verify.main(base + [a, str(tmp_path / "missing.wav")]) == 1
    assert "missing.wav" in capsys.readouterr().err


def test_evaluate_cli(small_model, tmp_path, capsys):
    from ssrfnet.bin import evaluate

    data = tmp_path / "data"
    data.mkdir()
    utts = {f"s{s}-u{u}": tone(tmp_path / f"s{s}-u{u}.wav", 150 + 200 * s, 3.2 + u, 10 * s + u)
            for s in range(2) for u in range(2)}
    (data / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in sorted(utts.items())))
    (data / "utt2spk").write_text("".join(f"{k} {k.split('-')[0]}\n" for k in sorted(utts)))
    trials = tmp_path / "t.kaldi"
    trials.write_text(
        "s0-u0 s0-u1 target\ns0-u0 s1-u0 nontarget\ns1-u0 s1-u1 target\ns0-u1 s1-u1 nontarget\n"
    )
    out = tmp_path / "eval"
    rc = evaluate.main(["--model", str(small_model), "--data", str(data), "--trials", str(trials),
                        "--out", str(out), "--eval-num-crops", "2", "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["lists"]["t"]) == {"crops", "utt"}
    assert 0 <= metrics["lists"]["t"]["crops"]["eer"] <= 100
    assert (out / "results.md").is_file() and (out / "scores" / "t.crops.score").is_file()
