"""Checkpoint files: contents, atomic latest pointer, pruning, recovery from a corrupt file, RNG round trip,
averaging."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from ssrfnet.errors import CheckpointError
from ssrfnet.train.checkpoint import (
    average_checkpoints,
    average_state_dicts,
    capture_rng,
    find_resume_checkpoint,
    list_checkpoints,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)


def state(step, value=1.0):
    return {"step": step, "epoch": 0, "batch": step, "model": {"w": torch.full((3,), float(value)),
                                                               "n": torch.tensor(step)},
            "model_config": {"model_type": "toy"}, "kd": None, "mode": "ssrfnet", "config_digest": "x"}


def test_save_latest_and_prune(tmp_path):
    for step in (2, 4, 6, 8):
        save_checkpoint(tmp_path, state(step), keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000006.pt", "step_00000008.pt"]
    assert (tmp_path / "latest").read_text().strip() == "step_00000008.pt"
    path, ck = find_resume_checkpoint(tmp_path)
    assert path.name == "step_00000008.pt" and ck["step"] == 8
    assert ck["format"] == "ssrfnet-train-checkpoint"
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupt_or_dangling_latest_falls_back(tmp_path):
    save_checkpoint(tmp_path, state(2))
    save_checkpoint(tmp_path, state(4))
    (tmp_path / "step_00000004.pt").write_bytes(b"garbage")  # e.g. a disk problem
    path, ck = find_resume_checkpoint(tmp_path)
    assert ck["step"] == 2
    (tmp_path / "latest").write_text("step_00000099.pt\n")
    assert find_resume_checkpoint(tmp_path)[1]["step"] == 2
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "step_00000004.pt")


def test_interrupted_save_keeps_previous(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, state(2))

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, state(4))
    monkeypatch.undo()
    assert (tmp_path / "latest").read_text().strip() == "step_00000002.pt"
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000002.pt"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_no_checkpoint(tmp_path):
    assert find_resume_checkpoint(tmp_path / "none") is None


def test_rng_round_trip(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    st = capture_rng()
    save_checkpoint(tmp_path, dict(state(1), rng=st))
    a = (random.random(), np.random.rand(), torch.rand(2))
    restore_rng(load_checkpoint(tmp_path / "step_00000001.pt")["rng"])
    b = (random.random(), np.random.rand(), torch.rand(2))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_average(tmp_path):
    for step, value in ((2, 1.0), (4, 2.0), (6, 6.0)):
        save_checkpoint(tmp_path, state(step, value))
    info = average_checkpoints(list_checkpoints(tmp_path)[-2:], tmp_path / "final.pt")
    obj = torch.load(tmp_path / "final.pt", weights_only=True)
    assert torch.allclose(obj["state_dict"]["w"], torch.full((3,), 4.0))
    assert obj["state_dict"]["n"].item() == 6  # integer buffers from the last checkpoint
    assert info["step_range"] == [4, 6]
    assert (tmp_path / "final.json").is_file()
    with pytest.raises(CheckpointError):
        average_state_dicts([{"a": torch.ones(1)}, {"b": torch.ones(1)}])


def test_average_cli(tmp_path, capsys):
    from ssrfnet.bin.average_checkpoints import main

    for step, value in ((2, 1.0), (4, 3.0), (6, 5.0)):
        save_checkpoint(tmp_path / "exp/checkpoints", state(step, value))
    assert main(["--steps", "2,6", str(tmp_path / "exp"), str(tmp_path / "avg.pt")]) == 0
    obj = torch.load(tmp_path / "avg.pt", weights_only=True)
    assert torch.allclose(obj["state_dict"]["w"], torch.full((3,), 3.0))
    assert main(["--num", "2", str(tmp_path / "exp")]) == 0
    assert torch.load(tmp_path / "exp/final.pt", weights_only=True)["train_info"]["step_range"] == [4, 6]
    assert main(["--steps", "8", str(tmp_path / "exp")]) == 1
