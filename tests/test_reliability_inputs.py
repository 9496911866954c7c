"""Issue 13, bad input named up front: the audio of a data directory is checked before training or extraction
starts (ssrfnet.prep.audio_check, steps/validate_audio.sh), NaN/Inf audio and non-finite embeddings cost
only their own utterance, and odd but usable input is warned about."""

import os
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from ssrfnet.bin import extract_embeddings as extract_cli
from ssrfnet.extract import EmbeddingExtractor, ExtractionError, extract_job, merge_parts
from ssrfnet.kaldi.datadir import DataDirError
from ssrfnet.prep.audio_check import check_job, summarize

from helpers import RECIPE, make_data_dir, tree_hashes

pytestmark = pytest.mark.usefixtures("one_thread")

# utterance -> (what is wrong with it, the reason the check must give)
BAD = {
    "spk00-utt00": ("8 kHz", "sample rate is 8000 Hz, expected 16000 Hz"),
    "spk00-utt01": ("empty file", "audio file is empty"),
    "spk00-utt02": ("missing file", "audio file not found"),
    "spk01-utt00": ("random bytes", "cannot read audio file"),
    "spk01-utt01": ("header without samples", "audio has no samples"),
    "spk01-utt02": ("failing pipe", "pipe command failed (exit 3)"),
    "spk02-utt00": ("Inf in a pipe", "audio contains NaN or Inf samples"),
}


def spoil(data):
    """Turn entries of a make_data_dir() data dir into the BAD cases and some odd but usable ones."""
    rng = np.random.default_rng(0)
    audio = data.parent / "audio"
    sf.write(audio / "spk00-utt00.wav", 0.1 * np.ones(8000, np.float32), 8000)
    (audio / "spk00-utt01.wav").write_bytes(b"")
    (audio / "spk00-utt02.wav").unlink()
    (audio / "spk01-utt00.wav").write_bytes(rng.bytes(2000))
    sf.write(audio / "spk01-utt01.wav", np.zeros(0, np.float32), 16000)
    inf = 0.1 * np.ones(16000, np.float32)
    inf[5] = np.inf
    sf.write(audio / "inf.wav", inf, 16000, subtype="FLOAT")
    sf.write(audio / "spk02-utt01.wav", 0.1 * np.ones((20000, 2), np.float32), 16000)  # stereo
    sf.write(audio / "spk02-utt02.wav", np.zeros(48000, np.float32), 16000)  # silent
    sf.write(audio / "spk03-utt00.wav", 0.1 * np.ones(3200, np.float32), 16000)  # 0.2 s
    wav = dict(line.split(" ", 1) for line in (data / "wav.scp").read_text().splitlines())
    wav["spk01-utt02"] = "bash -c 'echo decoder broke >&2; exit 3' |"
    wav["spk02-utt00"] = f"cat {audio / 'inf.wav'} |"
    (data / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in sorted(wav.items())))
    return data


@pytest.fixture
def bad_data(tmp_path):
    return spoil(make_data_dir(tmp_path, num_spk=4, per_spk=3, seconds=(3.5, 4.0)))


def test_every_bad_entry_is_named_with_its_reason(bad_data, tmp_path):
    out = tmp_path / "check"
    utt2spk = bad_data / "utt2spk"
    lines = utt2spk.read_text().splitlines()
    utt2spk.write_text("\n".join(lines[:-1] + ["spk09-utt00 spk09"]) + "\n")  # spk03-utt02 not in utt2spk
    for job in (1, 2):
        check_job(bad_data, out, job=job, num_jobs=2, crop_seconds=3.0)
    with pytest.raises(DataDirError) as err:
        summarize(bad_data, out, 2)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{bad_data}/wav.scp: 9 of 12 entries are unusable")
    assert "spk00-utt00 (sample rate is 8000 Hz" in message and "--skip-bad true" in message
    reasons = dict(line.split(" ", 1) for line in (out / "bad_utts").read_text().splitlines())
    for utt, (_, why) in BAD.items():
        assert why in reasons[utt], (utt, reasons[utt])
    assert reasons["spk03-utt02"] == f"not in {utt2spk}"
    assert reasons["spk09-utt00"] == f"in {utt2spk} but not in {bad_data / 'wav.scp'}"
    result = summarize(bad_data, out, 2, skip_bad=True)
    notes = dict(result["notes"])
    assert notes["spk02-utt01"] == "2 channels mixed down to mono"
    assert notes["spk03-utt00"].startswith("0.20 s, shorter than one 3 s crop")
    assert any("multi-channel" in line and "spk02-utt01" in line for line in result["lines"])


def test_decoding_every_file_finds_nan_and_silence(tmp_path):
    data = make_data_dir(tmp_path, num_spk=1, per_spk=3)
    nan = 0.1 * np.ones(16000, np.float32)
    nan[100] = np.nan
    sf.write(tmp_path / "audio" / "spk00-utt00.wav", nan, 16000, subtype="FLOAT")
    sf.write(tmp_path / "audio" / "spk00-utt01.wav", np.zeros(16000, np.float32), 16000)
    found = check_job(data, tmp_path / "check", decode="all")
    assert found["bad"] == [("spk00-utt00", "audio contains NaN or Inf samples (first at sample 100)")]
    assert found["notes"] == [("spk00-utt01", "silent (every sample is 0)")]
    assert check_job(data, tmp_path / "check2", decode="none")["bad"] == []  # headers alone cannot tell


def steps(*argv, cwd=RECIPE):
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    return subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_validate_audio_step_summary_skip_bad_and_cache(bad_data, tmp_path):
    out = tmp_path / "check"
    res = steps("steps/validate_audio.sh", "--nj", "3", str(bad_data), str(out))
    assert res.returncode == 1
    errors = [line for line in res.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"validate_audio: error: {bad_data}/wav.scp: 7 of 12")
    res = steps("steps/validate_audio.sh", "--nj", "3", "--skip-bad", "true", str(bad_data), str(out))
    assert res.returncode == 0, res.stderr
    assert "7 unusable entries left out" in res.stdout
    kept = (out / "data" / "wav.scp").read_text()
    assert len(kept.splitlines()) == 5 and "spk00-utt00" not in kept
    assert (out / "data" / "spk2utt").is_file()
    res = steps("steps/validate_audio.sh", "--nj", "3", "--skip-bad", "true", str(bad_data), str(out))
    assert "was checked before and has not changed" in res.stdout


def test_validate_data_dir_audio_option(bad_data):
    (bad_data.parent / "audio" / "spk00-utt02.wav").write_bytes(b"")  # only the audio check can tell
    res = steps(str(RECIPE / "utils" / "validate_data_dir.sh"), "--no-text", "--no-feats", "--audio",
                "--nj", "2", str(bad_data))
    assert res.returncode == 1
    assert f"validate_audio: error: {bad_data}/wav.scp: 7 of 12 entries are unusable" in res.stderr


def test_train_finds_an_8khz_file_before_torchrun_starts(tmp_path):
    data = make_data_dir(tmp_path, num_spk=2, per_spk=2)
    sf.write(tmp_path / "audio" / "spk01-utt01.wav", np.ones(8000, np.float32) * 0.1, 8000)
    exp = tmp_path / "exp"
    res = steps("steps/train.sh", "--mode", "distill", "--conf", "conf/ssrfnet_mini.conf", str(data),
                str(data), str(exp))
    assert res.returncode == 1
    assert (f"validate_audio: error: {data}/wav.scp: 1 of 4 entries are unusable: spk01-utt01 (sample rate "
            "is 8000 Hz, expected 16000 Hz)") in res.stderr
    assert not (exp / "log" / "train.log").exists()  # torchrun never started


class Energy(nn.Module):
    """Embeds by normalising with the input's energy: silence gives NaN, as such a model would."""

    embed_dim, crop_samples = 4, 4000

    def forward(self, wav):
        x = wav.reshape(wav.shape[0], 4, -1)
        return x.abs().mean(-1) / x.abs().mean((1, 2))[:, None]


def test_extraction_skips_bad_utterances_and_keeps_the_others(tmp_path, capsys):
    data = make_data_dir(tmp_path, num_spk=2, per_spk=3)
    audio = tmp_path / "audio"
    nan = 0.1 * np.ones(8000, np.float32)
    nan[7] = np.nan
    sf.write(audio / "spk00-utt00.wav", nan, 16000, subtype="FLOAT")
    sf.write(audio / "spk00-utt01.wav", np.zeros(20000, np.float32), 16000)
    sf.write(audio / "spk01-utt00.wav", 0.1 * np.ones((9000, 2), np.float32), 16000)
    sf.write(audio / "spk01-utt01.wav", 0.1 * np.ones(2000, np.float32), 16000)
    extractor = EmbeddingExtractor(Energy(), num_crops=2, batch_size=8)
    result = extract_job(extractor, data, tmp_path / "emb")
    failed = dict(result["failed"])
    assert set(failed) == {"spk00-utt00", "spk00-utt01"}
    assert "spk00-utt00: audio contains NaN or Inf samples (first at sample 7)" in failed["spk00-utt00"]
    assert failed["spk00-utt01"] == "the model produced NaN/inf embeddings for it"
    assert result["done"] == 4  # the good utterances of the job, the bad ones' batch neighbours included
    notes = dict(result["notes"])
    assert notes["spk00-utt01"] == "silent (every sample is 0)"
    assert notes["spk01-utt00"] == "2 channels mixed down to mono"
    assert notes["spk01-utt01"].startswith("0.12 s, shorter than one 0.25 s crop")
    with pytest.raises(ExtractionError, match=r"2 of 6 utterances .* have no xvector embedding: spk00-utt00 "
                                              r"spk00-utt01"):
        merge_parts(data, tmp_path / "emb", 1)
    extract_cli.print_notes(result["notes"])
    err = capsys.readouterr().err
    assert "extract_embeddings: WARNING: 1 utterance(s) several channels, mixed down to mono: spk01-utt00" \
        in err


@pytest.fixture
def tiny_model(tmp_path):
    from ssrfnet.models import build_model, save_model

    cfg = dict(model_type="redimnet", embed_dim=16, redimnet_freq=16, redimnet_channels=4,
               redimnet_stages="1:1:1:4")
    torch.manual_seed(0)
    save_model(build_model(cfg), cfg, tmp_path / "final.pt")
    return tmp_path / "final.pt"


def test_extract_step_checks_audio_first_and_skip_bad_embeds_the_rest(tmp_path, tiny_model):
    data = make_data_dir(tmp_path, num_spk=2, per_spk=2)
    sf.write(tmp_path / "audio" / "spk00-utt01.wav", 0.1 * np.ones(8000, np.float32), 8000)
    emb = tmp_path / "emb"
    base = ["steps/extract_embeddings.sh", "--nj", "2", "--num-crops", "2"]
    res = steps(*base, str(tiny_model), str(data), str(emb))
    assert res.returncode == 1 and "spk00-utt01 (sample rate is 8000 Hz" in res.stderr
    assert not list((emb / "log").glob("extract.*.log"))  # found before any extraction job ran
    res = steps(*base, "--skip-bad", "true", str(tiny_model), str(data), str(emb))
    assert res.returncode == 0, res.stderr
    keys = [line.split()[0] for line in (emb / "xvector.scp").read_text().splitlines()]
    assert keys == ["spk00-utt00", "spk01-utt00", "spk01-utt01"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "wav.scp").write_text("")
    res = steps(*base, str(tiny_model), str(tmp_path / "empty"), str(tmp_path / "emb2"))
    assert res.returncode == 1
    assert res.stderr.strip().endswith(f"{tmp_path}/empty/wav.scp is empty (no utterances to embed)")


def test_extraction_job_failure_is_named_on_the_console(tmp_path, tiny_model):
    data = make_data_dir(tmp_path, num_spk=1, per_spk=2)
    res = steps("steps/extract_embeddings.sh", "--nj", "1", "--check-audio", "false", "--conf",
                str(tmp_path / "bad.conf"), str(tiny_model), str(data), str(tmp_path / "emb"))
    assert res.returncode == 1 and "no such conf file" in res.stderr
    (tmp_path / "bad.conf").write_text("--eval-num-crops=0\n")
    emb = tmp_path / "emb"
    res = steps("steps/extract_embeddings.sh", "--nj", "1", "--conf", str(tmp_path / "bad.conf"),
                str(tiny_model), str(data), str(emb))
    lines = res.stderr.splitlines()
    assert res.returncode == 1
    assert f"run.pl: job 1 failed (code 1), log {emb}/log/extract.1.log" in lines
    assert "  extract_embeddings: error: --eval-num-crops must be >= 1, got 0" in lines
    assert "see" not in lines[-1]  # no second, vaguer message pointing at logs
    before = tree_hashes(data)
    assert tree_hashes(data) == before
