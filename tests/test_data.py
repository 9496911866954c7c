"""Training dataset and sampler: crops, tiling, labels, shuffling, sharding, determinism, resume position."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from ssrfnet.data import CropDataset, DataError, ShardedBatchSampler, make_loader, read_spk2id, write_spk2id
from ssrfnet.data.crops import CROP_HOP

from helpers import make_data_dir


def test_crops_labels_and_pipes(tmp_path):
    data = make_data_dir(tmp_path, seconds=(3.5, 5.0), pipe_every=2)
    ds = CropDataset(data, crop_samples=48000, seed=3)
    assert ds.num_classes == 3 and len(ds) == 12
    assert ds.spk2id == {"spk00": 0, "spk01": 1, "spk02": 2}
    for i in range(len(ds)):
        clean, noisy, label = ds[(0, i)]
        assert clean.shape == (48000,) and clean.dtype == torch.float32
        assert torch.equal(clean, noisy)  # no augmenter
        assert label == ds.spk2id[ds.spks[i]]
        whole, _ = sf.read(str(tmp_path / "audio" / f"{ds.utts[i]}.wav"), dtype="float32")
        start = int(np.flatnonzero(np.isclose(whole, clean[0].item()))[0])
        # the crop is a contiguous span starting at a multiple of 320 samples
        matches = [s for s in range(0, len(whole) - 48000 + 1, CROP_HOP)
                   if np.array_equal(whole[s:s + 48000], clean.numpy())]
        assert matches, start


def test_short_utterances_are_tiled(tmp_path):
    data = make_data_dir(tmp_path, seconds=(0.3, 0.9))
    ds = CropDataset(data, crop_samples=48000, seed=0)
    clean, _, _ = ds[(0, 0)]
    whole, _ = sf.read(str(tmp_path / "audio" / f"{ds.utts[0]}.wav"), dtype="float32")
    n = len(whole)
    assert np.array_equal(clean[:n].numpy(), whole)
    assert np.array_equal(clean[n:2 * n].numpy(), whole)


def test_item_determinism(tmp_path):
    data = make_data_dir(tmp_path, seconds=(4.0, 6.0))
    a = CropDataset(data, 16000, seed=7)
    b = CropDataset(data, 16000, seed=7)
    assert torch.equal(a[(2, 5)][0], b[(2, 5)][0])
    assert not torch.equal(a[(2, 5)][0], a[(3, 5)][0])  # a fresh crop every epoch


def test_spk2id_roundtrip(tmp_path):
    write_spk2id(tmp_path / "spk2id", {"b": 1, "a": 0})
    assert read_spk2id(tmp_path / "spk2id") == {"a": 0, "b": 1}


def test_sampler_shuffles_per_epoch_and_drops_last():
    s = ShardedBatchSampler(103, 10, seed=1)
    assert len(s) == 10
    s.set_epoch(0)
    e0 = [k for batch in s for k in batch]
    s.set_epoch(1)
    e1 = [k for batch in s for k in batch]
    assert len(e0) == 100 and len({i for _, i in e0}) == 100
    assert [i for _, i in e0] != [i for _, i in e1]
    assert all(ep == 1 for ep, _ in e1)


def test_sampler_no_shuffle_is_sequential():
    s = ShardedBatchSampler(20, 5, shuffle=False)
    assert [i for b in s for _, i in b] == list(range(20))


def test_sampler_resume_position():
    s = ShardedBatchSampler(100, 8, seed=4)
    s.set_epoch(3)
    full = list(s)
    s.set_position(3, 5)
    assert list(s) == full[5:]
    assert len(s) == len(full) - 5


def test_too_few_utterances_is_an_error():
    with pytest.raises(DataError, match="fewer than one global batch"):
        ShardedBatchSampler(5, 4, world_size=2)


def test_sharding_two_ranks_two_workers(tmp_path):
    """Every kept item once per epoch across 2 ranks x 2 DataLoader workers; same data as 0 workers."""
    data = make_data_dir(tmp_path, num_spk=4, per_spk=5, seconds=(0.2, 0.4))
    ds = CropDataset(data, crop_samples=4000, seed=5)
    seen, crops = [], {}
    for rank in range(2):
        sampler = ShardedBatchSampler(len(ds), 3, rank=rank, world_size=2, seed=5)
        sampler.set_epoch(2)
        keys = [k for b in sampler for k in b]
        loader = make_loader(ds, sampler, num_workers=2)
        batches = list(loader)
        got = torch.cat([b[2] for b in batches])
        assert got.tolist() == [int(ds.labels[i]) for _, i in keys]
        for (_, i), clean in zip(keys, torch.cat([b[0] for b in batches])):
            crops[i] = clean
        seen += [i for _, i in keys]
    assert len(seen) == len(set(seen)) == (20 // 6) * 6
    # worker count does not change the data
    sampler = ShardedBatchSampler(len(ds), 3, rank=0, world_size=2, seed=5)
    sampler.set_epoch(2)
    keys = [k for b in sampler for k in b]
    single = torch.cat([b[0] for b in make_loader(ds, sampler, num_workers=0)])
    for (_, i), clean in zip(keys, single):
        assert torch.equal(crops[i], clean)


def test_bad_data_dir(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="wav.scp missing"):
        CropDataset(tmp_path / "d")


def test_single_utterance_speaker_warns(tmp_path, caplog):
    data = make_data_dir(tmp_path, num_spk=2, per_spk=1, seconds=(1.0, 1.5))
    with caplog.at_level("WARNING"):
        ds = CropDataset(data, 16000)
    assert ds.num_classes == 2
    assert "single utterance" in caplog.text


def test_pipe_audio_cache(tmp_path):
    data = make_data_dir(tmp_path, num_spk=1, per_spk=2, seconds=(3.5, 4.0), pipe_every=1)
    ds = CropDataset(data, 16000, seed=0, cache_pipes=True)
    first = ds[(0, 0)][0]
    assert 0 in ds._cache
    # the cached (int16) copy gives the same crop to 16-bit precision, without running the pipe again
    ds.wav[ds.utts[0]] = "false |"
    again = ds[(0, 0)][0]
    assert torch.allclose(first, again, atol=1.0 / 32768)
