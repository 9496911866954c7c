"""Stage 4 extraction: crop positions, batching, kaldiio round trip, missing utterances, shell step."""

import os
import shutil
import subprocess

import kaldiio
import numpy as np
import pytest
import torch
from torch import nn

from ssrfnet.audio import write_wav
from ssrfnet.data.crops import crop_starts, make_crops
from ssrfnet.extract import EmbeddingExtractor, ExtractionError, extract_data_dir, extract_job, merge_parts

from helpers import REPO

pytestmark = pytest.mark.usefixtures("one_thread")


class FixedStandIn(nn.Module):
    """Fixed-length stand-in honouring the embedding interface (like the faithful SV-Mixer)."""

    def __init__(self, crop_samples=4000, embed_dim=12, frame=100):
        super().__init__()
        torch.manual_seed(0)
        self.embed_dim, self.crop_samples, self.frame = embed_dim, crop_samples, frame
        self.proj = nn.Linear(frame, embed_dim)

    def forward(self, wav):
        assert wav.shape[1] == self.crop_samples, wav.shape
        frames = wav.reshape(wav.shape[0], -1, self.frame)
        return torch.tanh(self.proj(frames)).mean(dim=1)


class AnyLengthStandIn(FixedStandIn):
    def __init__(self):
        super().__init__()
        self.crop_samples = None

    def forward(self, wav):
        n = wav.shape[1] // self.frame * self.frame
        frames = wav[:, :n].reshape(wav.shape[0], -1, self.frame)
        return torch.tanh(self.proj(frames)).mean(dim=1)


def test_official_crop_positions():
    assert crop_starts(48000 * 4, 48000, 10).tolist() == [int(x) for x in np.linspace(0, 48000 * 3, 10)]
    assert crop_starts(100_001, 48000, 10)[-1] == 100_001 - 48000
    assert crop_starts(30_000, 48000, 10).tolist() == [0] * 10
    wav = np.arange(100_000, dtype=np.float32)
    crops = make_crops(wav, 48000, 10)
    assert crops.shape == (10, 48000)
    assert crops[3, 0] == int(np.linspace(0, 52000, 10)[3]) and crops[-1, -1] == 99_999


def test_short_file_is_wrap_padded_and_replicated():
    wav = np.array([1, 2, 3], dtype=np.float32)
    crops = make_crops(wav, 8, 10)
    assert crops.shape == (10, 8)
    assert crops[0].tolist() == [1, 2, 3, 1, 2, 3, 1, 2]
    assert (crops == crops[0]).all()
    exact = np.arange(8, dtype=np.float32)
    assert (make_crops(exact, 8, 4) == exact).all()


def make_data(tmp_path, lengths, missing=()):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    lines, u2s = [], []
    for i, n in enumerate(lengths):
        key = f"spk{i % 3}-utt{i:02d}"
        path = tmp_path / "wav" / f"{key}.wav"
        if key not in missing:
            write_wav(path, 0.1 * rng.standard_normal(n).astype(np.float32))
        lines.append(f"{key} {path}\n")
        u2s.append(f"{key} spk{i % 3}\n")
    (data / "wav.scp").write_text("".join(sorted(lines)))
    (data / "utt2spk").write_text("".join(sorted(u2s)))
    return data


LENGTHS = [2000, 4000, 9000, 16000, 25000, 3999, 12345]


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_batched_extraction_round_trip(tmp_path, batch_size):
    data = make_data(tmp_path, LENGTHS)
    model = FixedStandIn()
    extractor = EmbeddingExtractor(model, num_crops=10, batch_size=batch_size)
    out = extract_data_dir(extractor, data, tmp_path / "emb")
    vec = dict(kaldiio.load_scp(str(out / "xvector.scp")))
    crops = dict(kaldiio.load_scp(str(out / "crops.scp")))
    assert sorted(vec) == sorted(line.split()[0] for line in (data / "wav.scp").read_text().splitlines())
    for key, line in (line.split() for line in (data / "wav.scp").read_text().splitlines()):
        import soundfile as sf

        wav, _ = sf.read(line, dtype="float32")
        with torch.no_grad():
            want = model(torch.from_numpy(make_crops(wav, 4000, 10))).numpy()
        assert crops[key].shape == (10, 12) and vec[key].shape == (12,)
        np.testing.assert_allclose(crops[key], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(vec[key], want.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert not list((tmp_path / "emb" / "split").glob(".*tmp*"))


def test_length_agnostic_model_embeds_whole_utterance(tmp_path):
    data = make_data(tmp_path, [5000, 20000])
    model = AnyLengthStandIn()
    extractor = EmbeddingExtractor(model, num_crops=3, crop_seconds=0.25, batch_size=4)
    out = extract_data_dir(extractor, data, tmp_path / "emb")
    vec = dict(kaldiio.load_scp(str(out / "xvector.scp")))
    crops = dict(kaldiio.load_scp(str(out / "crops.scp")))
    import soundfile as sf

    key, path = (data / "wav.scp").read_text().split("\n")[1].split()
    wav, _ = sf.read(path, dtype="float32")
    with torch.no_grad():
        full = model(torch.from_numpy(wav)[None])[0].numpy()
    np.testing.assert_allclose(vec[key], full, rtol=1e-5, atol=1e-6)
    assert crops[key].shape == (3, 12)


def test_wrong_output_size_names_sizes():
    model = FixedStandIn()
    model.embed_dim = 10
    ex = EmbeddingExtractor(model, batch_size=4)
    with pytest.raises(ExtractionError, match=r"shape \(4, 12\), expected \(4, 10\)"):
        list(ex.extract([("u1", np.zeros(5000, np.float32))]))


def test_missing_utterance_fails_and_names_it(tmp_path):
    data = make_data(tmp_path, LENGTHS, missing=("spk1-utt04",))
    ex = EmbeddingExtractor(FixedStandIn(), batch_size=8)
    for job in (1, 2):
        extract_job(ex, data, tmp_path / "emb", job=job, num_jobs=2)
    (tmp_path / "emb" / "xvector.scp").write_text("earlier\n")
    with pytest.raises(ExtractionError, match=r"1 of 7 utterances .* spk1-utt04"):
        merge_parts(data, tmp_path / "emb", 2)
    # the failed run's outputs stay in split.new/: the earlier merged scp (and split/) are left as they were
    assert (tmp_path / "emb" / "xvector.scp").read_text() == "earlier\n"


def test_missing_job_output_fails(tmp_path):
    data = make_data(tmp_path, LENGTHS)
    ex = EmbeddingExtractor(FixedStandIn(), batch_size=8)
    extract_job(ex, data, tmp_path / "emb", job=1, num_jobs=2)
    with pytest.raises(ExtractionError, match=r"job outputs missing: .*xvector\.2\.scp"):
        merge_parts(data, tmp_path / "emb", 2)


def _small_real_model():
    models = pytest.importorskip("ssrfnet.models")
    cfg = dict(model_type="ssrfnet", embed_dim=192, svmixer_layers=4, svmixer_hidden=128,
               svmixer_cnn_channels=32, svmixer_group_dim=32, redimnet_freq=16, redimnet_channels=8,
               pfm_windows=2, pfm_layers=2, redimnet_stages="1:1:1:4,2:1:1:4")
    torch.manual_seed(0)
    return models, cfg, models.build_model(cfg).eval()


@pytest.mark.skipif(shutil.which("perl") is None, reason="run.pl needs perl")
def test_extract_step_script_with_real_small_model(tmp_path):
    models, cfg, model = _small_real_model()
    models.save_model(model, cfg, tmp_path / "final.pt")
    data = make_data(tmp_path, [30000, 52000, 64000])
    out = tmp_path / "emb"
    env = dict(os.environ, PATH=f"{REPO}/.venv/bin:{REPO}/utils:{os.environ['PATH']}", PYTHONPATH=str(REPO))
    cmd = [str(REPO / "steps/extract_embeddings.sh"), "--nj", "2", "--batch-size", "8", "--num-crops", "4",
           str(tmp_path / "final.pt"), str(data), str(out)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr + "".join(
        p.read_text() for p in (out / "log").glob("*.log"))
    vec = dict(kaldiio.load_scp(str(out / "xvector.scp")))
    crops = dict(kaldiio.load_scp(str(out / "crops.scp")))
    assert len(vec) == 3 and all(v.shape == (192,) for v in vec.values())
    assert all(c.shape == (4, 192) for c in crops.values())
    for key in vec:
        np.testing.assert_allclose(vec[key], crops[key].mean(axis=0), rtol=1e-5, atol=1e-6)
    # a job output gone missing: the merge stage fails naming the utterances, no merged scp is left
    os.unlink(out / "split" / "xvector.2.scp")
    proc = subprocess.run(cmd[:1] + ["--stage", "1"] + cmd[1:], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode != 0
    assert "spk2-utt02" in proc.stdout + proc.stderr
    assert not (out / "xvector.scp").exists()
