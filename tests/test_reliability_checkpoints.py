"""Issue 13, checkpoint hygiene: a checkpoint is read back before older ones are pruned, unreadable ones are
never kept in place of good ones and are left out (and named) in the final average, a full disk while saving
ends in one line naming the file; unreadable model files are one line naming the path."""

import errno
import os

import pytest
import torch

from ssrfnet import fileio
from ssrfnet.bin import average_checkpoints as average_cli
from ssrfnet.bin import export as export_cli
from ssrfnet.errors import CheckpointError
from ssrfnet.fileio import WriteError
from ssrfnet.models import build_model, save_model
from ssrfnet.train import checkpoint as ckpt
from ssrfnet.train.checkpoint import list_checkpoints, save_checkpoint, select_for_average

from helpers import tree_hashes

pytestmark = pytest.mark.usefixtures("one_thread")


def state(step):
    return {"step": step, "mode": "ssrfnet", "model": {"w": torch.full((3,), float(step))}, "kd": None,
            "model_config": {"model_type": "toy"}, "config_digest": "d"}


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def names(ckpt_dir):
    return sorted(p.name for p in ckpt_dir.iterdir())


def test_a_checkpoint_that_does_not_read_back_is_an_error_before_pruning(tmp_path, monkeypatch):
    for step in (2, 4):
        save_checkpoint(tmp_path, state(step), keep=2)
    before = tree_hashes(tmp_path)

    def short_write(obj, path):  # a file system that silently drops the end of the file
        fileio.atomic_torch_save(obj, path)
        truncate(path)

    monkeypatch.setattr(ckpt, "atomic_torch_save", short_write)
    with pytest.raises(CheckpointError, match=r"step_00000006\.pt: written but does not read back"):
        save_checkpoint(tmp_path, state(6), keep=2)
    before.pop(str(tmp_path / "step_00000006.pt"), None)
    after = tree_hashes(tmp_path)
    after.pop(str(tmp_path / "step_00000006.pt"))
    assert after == before  # step 2 and 4 kept, latest still names step 4
    assert (tmp_path / "latest").read_text() == "step_00000004.pt\n"


def test_pruning_never_deletes_a_good_checkpoint_while_keeping_a_bad_one(tmp_path, caplog):
    for step in (2, 4, 6):
        save_checkpoint(tmp_path, state(step), keep=0)
    truncate(tmp_path / "step_00000006.pt")  # e.g. the newest file of a run killed by a failing disk
    save_checkpoint(tmp_path, state(8), keep=2)
    assert names(tmp_path) == ["latest", "step_00000004.pt", "step_00000006.pt.unreadable",
                               "step_00000008.pt"]
    assert "step_00000006.pt: unreadable checkpoint" in caplog.text


def test_averaging_leaves_out_and_names_unreadable_members(tmp_path, caplog, capsys):
    exp = tmp_path / "exp"
    for step in (2, 4, 6, 8):
        save_checkpoint(exp / "checkpoints", state(step))
    truncate(exp / "checkpoints" / "step_00000008.pt")
    (exp / "checkpoints" / "step_00000006.pt").write_bytes(b"")
    chosen, skipped = select_for_average(exp / "checkpoints", 2)
    assert [p.name for p in chosen] == ["step_00000002.pt", "step_00000004.pt"]
    assert [p.name for p, _ in skipped] == ["step_00000008.pt", "step_00000006.pt"]
    assert [p.name for p in select_for_average(exp / "checkpoints", 2, max_step=2)[0]] == ["step_00000002.pt"]
    assert average_cli.main(["--num", "2", str(exp)]) == 0
    err = capsys.readouterr().err
    assert f"{exp}/checkpoints/step_00000008.pt left out, unreadable" in err
    blob = torch.load(exp / "final.pt", weights_only=True)
    assert blob["train_info"]["steps"] == [2, 4]
    assert torch.equal(blob["state_dict"]["w"], torch.full((3,), 3.0))
    for path in list_checkpoints(exp / "checkpoints"):
        path.unlink()
    assert average_cli.main([str(exp)]) == 1
    assert "no readable checkpoint to average" in capsys.readouterr().err


def test_disk_full_while_saving_a_checkpoint_names_it_and_keeps_the_others(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, state(2), keep=1)
    before = tree_hashes(tmp_path)

    def full(*_args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(WriteError, match=rf"{tmp_path}/step_00000004\.pt: cannot write: no space left"):
        save_checkpoint(tmp_path, state(4), keep=1)
    assert tree_hashes(tmp_path) == before and names(tmp_path) == ["latest", "step_00000002.pt"]


def test_training_survives_a_truncated_newest_checkpoint_below_max_steps(tmp_path, caplog):
    toy = pytest.importorskip("toy_training")
    toy.make_corpus(tmp_path)
    exp = tmp_path / "exp"
    common = ["--num-avg", "2", "--keep-checkpoints", "2", "--valid-every", "0"]
    toy.toy_main(toy.toy_args(tmp_path, exp, "--max-steps", "6", "--save-every", "2", *common))
    # the newest checkpoint (step 6, below the new --max-steps 8) is truncated; the re-run resumes from step 4
    truncate(exp / "checkpoints" / "step_00000006.pt")
    (exp / "final.pt").unlink()
    toy.toy_main(toy.toy_args(tmp_path, exp, "--max-steps", "8", "--save-every", "4", *common))
    assert names(exp / "checkpoints") == ["latest", "step_00000004.pt", "step_00000006.pt.unreadable",
                                          "step_00000008.pt"]
    blob = torch.load(exp / "final.pt", weights_only=True)
    assert blob["train_info"]["steps"] == [4, 8]
    assert "step_00000006.pt" in caplog.text


@pytest.fixture
def model_files(tmp_path):
    cfg = dict(model_type="redimnet", embed_dim=16, redimnet_freq=16, redimnet_channels=4,
               redimnet_stages="1:1:1:4")
    save_model(build_model(cfg), cfg, tmp_path / "good.pt")
    good = torch.load(tmp_path / "good.pt", weights_only=True)
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "random.pt").write_bytes(os.urandom(4096))
    torch.save({k: v for k, v in good.items() if k != "config"}, tmp_path / "noconfig.pt")
    torch.save({k: v for k, v in good.items() if k != "state_dict"}, tmp_path / "nostate.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    return tmp_path


@pytest.mark.parametrize("name, message", [
    ("truncated", "not a readable PyTorch checkpoint, truncated or not written by torch.save"),
    ("empty", "not a readable PyTorch checkpoint"),
    ("random", "not a readable PyTorch checkpoint"),
    ("noconfig", "an ssrfnet-model file without its 'config' dict"),
    ("nostate", "an ssrfnet-model file without its 'state_dict' dict"),
    ("list", "expected a checkpoint dict, got list"),
    ("missing", "no such model file"),
])
def test_unreadable_model_files_are_one_line_naming_the_path(model_files, name, message, capsys):
    path = model_files / f"{name}.pt"
    assert export_cli.main(["--model", str(path), "--out-dir", str(model_files / "export")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"export: error: {path}") and message in err[0], err
    assert not (model_files / "export").exists()
