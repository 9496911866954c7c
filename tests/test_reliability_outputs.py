"""Issue 13, transactional outputs: a failing stage or CLI leaves the earlier results byte-identical, a
failing first run leaves nothing under a final name, a full disk ends in one line naming the file."""

import errno
import json
import os

import kaldiio
import numpy as np
import pytest
import torch
from torch import nn

from ssrfnet import fileio
from ssrfnet.bin import export as export_cli
from ssrfnet.bin import score as score_cli
from ssrfnet.export import ExportError, export_model
from ssrfnet.fileio import WriteError, atomic_torch_save, atomic_write_text, staged_dir, strict_json

from helpers import make_data_dir, tree_hashes

pytestmark = pytest.mark.usefixtures("one_thread")
DIM = 8


def enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# -- the library helpers ---------------------------------------------------------------------------------
def test_staged_dir_swaps_whole_directory_and_companions(tmp_path):
    target = tmp_path / "out"
    with staged_dir(target) as stage:
        (stage.path / "a").write_text("1")
        stage.also_write(tmp_path / "table.md", "first")
        assert not target.exists()  # nothing under the final name before the block succeeded
    assert (target / "a").read_text() == "1" and (tmp_path / "table.md").read_text() == "first"
    with staged_dir(target) as stage:
        (stage.path / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]  # exactly the new run's files
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers


def test_staged_dir_failure_leaves_old_output_byte_identical(tmp_path):
    target = tmp_path / "out"
    with staged_dir(target) as stage:
        (stage.path / "a").write_text("old")
        stage.also_write(tmp_path / "table.md", "old table")
    before = tree_hashes(target, tmp_path / "table.md")
    with pytest.raises(RuntimeError, match="boom"), staged_dir(target) as stage:
        (stage.path / "a").write_text("new")
        stage.also_write(tmp_path / "table.md", "new table")
        raise RuntimeError("boom")
    assert tree_hashes(target, tmp_path / "table.md") == before
    with pytest.raises(RuntimeError), staged_dir(tmp_path / "first") as stage:
        (stage.path / "model.pt").write_text("half")
        raise RuntimeError("boom")
    assert not (tmp_path / "first").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_staged_dir_disk_full_in_companion_keeps_everything(tmp_path, monkeypatch):
    target = tmp_path / "out"
    with staged_dir(target) as stage:
        (stage.path / "a").write_text("old")
        stage.also_write(tmp_path / "results.json", "{}")
    before = tree_hashes(target, tmp_path / "results.json")
    with pytest.raises(WriteError, match=r"results\.json: cannot write: no space left"), \
            staged_dir(target) as stage:
        (stage.path / "a").write_text("new")
        stage.also_write(tmp_path / "results.json", '{"new": 1}')
        monkeypatch.setattr(fileio.os, "fsync", enospc)
    monkeypatch.undo()
    assert tree_hashes(target, tmp_path / "results.json") == before


def test_leftovers_of_a_killed_run_are_cleaned_or_restored(tmp_path):
    target = tmp_path / "scores"
    dead = 2**22 + 12345  # above pid_max: never a live process
    half = tmp_path / f".scores.new-{dead}-x"
    half.mkdir()
    (half / "junk").write_text("half-built")
    aside = tmp_path / f".scores.old-{dead}-y"  # killed between the two renames of a swap
    aside.mkdir()
    (aside / "list.crops.score").write_text("complete")
    fileio.recover_staged(target)
    assert (target / "list.crops.score").read_text() == "complete"
    assert not half.exists() and not aside.exists()


def test_atomic_writes_on_a_full_disk_name_the_file_and_keep_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "results.md"
    path.write_text("old")
    monkeypatch.setattr(fileio.os, "fsync", enospc)
    with pytest.raises(WriteError, match=rf"{path}: cannot write: no space left on device"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["results.md"]


def test_torch_save_on_a_full_disk_is_a_write_error(tmp_path, monkeypatch):
    path = tmp_path / "step_00000004.pt"
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(fileio.os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
    with pytest.raises(WriteError, match=r"step_00000004\.pt: cannot write: no space left"):
        atomic_torch_save({"w": torch.zeros(1000)}, path)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_read_only_directory_is_a_write_error(tmp_path, monkeypatch):
    def read_only(*_a, **_k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(fileio.tempfile, "mkstemp", read_only)
    with pytest.raises(WriteError, match="threshold.json: cannot write: read-only file system"):
        fileio.atomic_write_json(tmp_path / "threshold.json", {"a": 1})


def test_strict_json_has_no_infinity():
    text = strict_json({"eer": float("inf"), "t": [float("nan"), np.float32(-np.inf), 1.5]})
    assert json.loads(text) == {"eer": None, "t": [None, None, 1.5]}
    assert "Infinity" not in text and "NaN" not in text


# -- stage 6: export -------------------------------------------------------------------------------------
class StandIn(nn.Module):
    def __init__(self, seed=0, crop_samples=4000):
        super().__init__()
        torch.manual_seed(seed)
        self.embed_dim, self.crop_samples = DIM, crop_samples
        self.conv = nn.Conv1d(1, 4, 50, stride=25)
        self.proj = nn.Linear(4, DIM)

    def forward(self, wav):
        return self.proj(torch.relu(self.conv(wav.unsqueeze(1))).mean(dim=2))


def test_failing_reexport_leaves_previous_export_byte_identical(tmp_path):
    out = tmp_path / "export"
    export_model(StandIn(0), out, runs=1, batch_sizes=(1,))
    before = tree_hashes(out)
    assert {os.path.basename(p) for p in before} == {"model.pt", "model.onnx", "export.json"}
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_model(StandIn(1), out, tolerance=-1.0, runs=1, batch_sizes=(1,))
    assert tree_hashes(out) == before  # model.pt, model.onnx and export.json still agree
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_failing_first_export_leaves_no_model(tmp_path):
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_model(StandIn(0), tmp_path / "export", tolerance=-1.0, runs=1, batch_sizes=(1,))
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_a_directory_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match=r"notes\.txt.*replaces the whole directory"):
        export_model(StandIn(0), tmp_path, runs=1, batch_sizes=(1,))
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_export_cli_failure_is_one_line_and_keeps_export_and_readme(tmp_path, capsys):
    from ssrfnet.models import build_model, save_model

    cfg = dict(model_type="redimnet", embed_dim=192, redimnet_freq=16, redimnet_channels=8,
               redimnet_stages="1:1:1:4,2:1:1:4")
    exp = tmp_path / "exp"
    exp.mkdir()
    torch.manual_seed(0)
    save_model(build_model(cfg), cfg, exp / "final.pt")
    quick = ["--export-timing-runs", "1", "--export-quantize", "none"]
    assert export_cli.main(["--model", str(exp / "final.pt"), *quick]) == 0
    before = tree_hashes(exp / "export", exp / "README.md")
    capsys.readouterr()
    rc = export_cli.main(["--model", str(exp / "final.pt"), *quick, "--export-tolerance", "-1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("export: error: torchscript export differs")
    assert tree_hashes(exp / "export", exp / "README.md") == before


# -- stage 5: scoring ------------------------------------------------------------------------------------
def emb_dir(path, speakers, per_spk, rng, crops=True):
    path.mkdir(parents=True, exist_ok=True)
    vec, crp, u2s = {}, {}, {}
    for s, centre in speakers.items():
        for u in range(per_spk):
            c = (centre + 0.5 * rng.normal(size=(4, DIM))).astype(np.float32)
            key = f"{s}-u{u}"
            crp[key], vec[key], u2s[key] = c, c.mean(0), s
    kaldiio.save_ark(str(path / "xvector.ark"), vec, scp=str(path / "xvector.scp"))
    if crops:
        kaldiio.save_ark(str(path / "crops.ark"), crp, scp=str(path / "crops.scp"))
    return u2s


@pytest.fixture
def scored(tmp_path):
    rng = np.random.default_rng(0)
    spk = {f"s{i:02d}": rng.normal(size=DIM) for i in range(22)}
    test = emb_dir(tmp_path / "emb", dict(list(spk.items())[:6]), 3, rng)
    cohort = emb_dir(tmp_path / "cohort", dict(list(spk.items())[6:]), 2, rng, crops=False)
    (tmp_path / "cohort_data").mkdir()
    (tmp_path / "cohort_data" / "utt2spk").write_text("".join(f"{u} {s}\n"
                                                               for u, s in sorted(cohort.items())))
    keys = sorted(test)
    lists = []
    for name, step in (("a", 1), ("b", 2)):
        lines = [f"{x} {y} {'target' if test[x] == test[y] else 'nontarget'}\n"
                 for i, x in enumerate(keys) for y in keys[i + 1:i + 1 + 3 * step:step]]
        (tmp_path / f"{name}.kaldi").write_text("".join(lines))
        lists.append(str(tmp_path / f"{name}.kaldi"))
    argv = ["--exp-dir", str(tmp_path / "exp"), "--emb-dir", str(tmp_path / "emb"), "--asnorm", "true",
            "--cohort-emb", str(tmp_path / "cohort"), "--cohort-data", str(tmp_path / "cohort_data"),
            "--asnorm-top-n", "300", "--trials"]
    return tmp_path, argv, lists, keys


def results_of(exp):
    return tree_hashes(exp / "scores", exp / "results.md", exp / "results.json", exp / "README.md")


def test_failing_rescore_leaves_scores_and_tables_byte_identical(scored, capsys):
    tmp, argv, lists, keys = scored
    assert score_cli.main(argv + lists) == 0, capsys.readouterr().err
    before = results_of(tmp / "exp")
    # the second list turns out to hold only non-target trials: the first list must not be rewritten
    (tmp / "nontarget.kaldi").write_text(f"{keys[0]} {keys[-1]} nontarget\n{keys[1]} {keys[-2]} nontarget\n")
    capsys.readouterr()
    assert score_cli.main(argv + [lists[0], str(tmp / "nontarget.kaldi")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("score: error:") and "nontarget.kaldi" in err[0]
    assert results_of(tmp / "exp") == before
    assert [p.name for p in (tmp / "exp").iterdir() if p.name.startswith(".")] == []


def test_disk_full_during_rescore_is_one_line_and_keeps_results(scored, capsys, monkeypatch):
    tmp, argv, lists, _ = scored
    assert score_cli.main(argv + lists) == 0
    before = results_of(tmp / "exp")
    capsys.readouterr()
    monkeypatch.setattr(fileio.os, "fsync", enospc)
    assert score_cli.main(argv + lists) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write: no space left on device" in err[0]
    assert str(tmp / "exp") in err[0]  # names the file
    monkeypatch.undo()
    assert results_of(tmp / "exp") == before


def test_asnorm_with_a_small_cohort_is_labelled_with_the_effective_n(scored, capsys):
    tmp, argv, lists, _ = scored
    assert score_cli.main(argv + lists[:1]) == 0
    out = capsys.readouterr().out
    assert "--asnorm-top-n 300 is more than the 16 cohort speakers: using top-16" in out
    md = (tmp / "exp" / "results.md").read_text()
    assert "AS-norm top-16" in md and "top-300" not in md
    results = json.loads((tmp / "exp" / "results.json").read_text())
    assert results["asnorm_top_n"] == 16 and results["asnorm_top_n_requested"] == 300
    assert set(results["lists"]["a"]) == {"crops", "utt", "crops_asnorm16", "utt_asnorm16"}
    assert (tmp / "exp" / "scores" / "a.crops_asnorm16.score").is_file()


# -- stage 4: embeddings ---------------------------------------------------------------------------------
def test_failing_reextraction_leaves_earlier_embeddings_byte_identical(tmp_path):
    from ssrfnet.extract import EmbeddingExtractor, ExtractionError, extract_job, merge_parts

    data = make_data_dir(tmp_path, num_spk=2, per_spk=2, seconds=(0.5, 1.0))
    out = tmp_path / "emb"
    extractor = EmbeddingExtractor(StandIn(0), num_crops=2)
    for job in (1, 2):
        extract_job(extractor, data, out, job=job, num_jobs=2)
    merge_parts(data, out, 2)
    loaded = dict(kaldiio.load_scp(str(out / "xvector.scp")))
    assert not (out / "split.new").exists()
    assert "split.new" not in (out / "split" / "xvector.1.scp").read_text()
    before = tree_hashes(out)
    (tmp_path / "audio" / "spk01-utt01.wav").unlink()  # the re-run loses one utterance
    for job in (1, 2):
        extract_job(EmbeddingExtractor(StandIn(1), num_crops=2), data, out, job=job, num_jobs=2)
    with pytest.raises(ExtractionError, match="1 of 4 utterances .* spk01-utt01"):
        merge_parts(data, out, 2)
    after = {k: v for k, v in tree_hashes(out).items() if "/split.new/" not in k}
    assert after == before
    again = dict(kaldiio.load_scp(str(out / "xvector.scp")))
    assert all(np.array_equal(loaded[k], again[k]) for k in loaded)  # still the earlier, readable embeddings
    (out / "split.new" / "xvector.1.scp").unlink()
    extract_job(extractor, make_data_dir(tmp_path / "b", num_spk=2, per_spk=2), out, job=1, num_jobs=1)
    merge_parts(tmp_path / "b" / "data", out, 1, write_crops=False)
    assert not (out / "crops.scp").exists()  # pointed into the split/ that was replaced
    assert len(dict(kaldiio.load_scp(str(out / "xvector.scp")))) == 4
