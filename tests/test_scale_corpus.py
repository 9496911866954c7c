"""The scale-corpus tree builder: real sizes at scale 1, exact scaled structure and lists, reuse, and stage 0
on the tree (job-array split identical for 1 and 3 jobs, Kaldi validation)."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from ssrfnet.corpus.scale import (
    MANIFEST,
    ScaleCorpusError,
    allocate,
    make_scale_corpus,
    scaled_counts,
)
from ssrfnet.kaldi.datadir import load_data_dir
from ssrfnet.kaldi.trials import read_trials, read_voxceleb_list

from helpers import REPO

SCALE = 0.002


def test_scale_one_is_the_real_corpus():
    counts = scaled_counts(1.0)
    assert (counts.vox2_speakers, counts.vox2_videos, counts.vox2_utterances) == (5994, 145569, 1092009)
    assert (counts.vox1_speakers, counts.vox1_utterances) == (1251, 153516)
    assert counts.vox1_test_videos + counts.vox1_dev_videos == 22496
    assert (counts.trials_O, counts.trials_E, counts.trials_H) == (37611, 579818, 550894)
    with pytest.raises(ScaleCorpusError, match="--scale must be in"):
        scaled_counts(0.0)


def test_allocate_is_exact(tmp_path):
    import numpy as np

    counts = allocate(1000, 37, np.random.default_rng(0), sigma=0.8, minimum=2)
    assert counts.sum() == 1000 and counts.min() >= 2 and len(counts) == 37
    with pytest.raises(ScaleCorpusError, match="cannot spread 10 items over 6 bins"):
        allocate(10, 6, np.random.default_rng(0), sigma=0.5, minimum=2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale")
    return out, make_scale_corpus(out, scale=SCALE, vox2_format="wav", log=lambda message: None)


def _files(root: Path, ext: str) -> list[Path]:
    return sorted(p for p in root.rglob(f"*{ext}"))


def test_tree_has_the_scaled_structure(corpus):
    out, manifest = corpus
    counts = scaled_counts(SCALE)
    vox2 = _files(out / "voxceleb2" / "dev" / "aac", ".wav")
    vox1 = _files(out / "voxceleb1" / "wav", ".wav")
    assert len(vox2) == counts.vox2_utterances and len(vox1) == counts.vox1_utterances
    for files, speakers, videos, root in (
        (vox2, counts.vox2_speakers, counts.vox2_videos, out / "voxceleb2/dev/aac"),
        (vox1, counts.vox1_speakers, counts.vox1_test_videos + counts.vox1_dev_videos, out / "voxceleb1/wav"),
    ):
        rels = [f.relative_to(root).parts for f in files]
        assert all(len(parts) == 3 for parts in rels)
        assert len({parts[0] for parts in rels}) == speakers
        assert len({parts[:2] for parts in rels}) == videos
        assert all(len(parts[1]) == 11 and parts[2][:5].isdigit() for parts in rels)
        per_video = Counter(parts[:2] for parts in rels)
        # files are numbered 00001..N within each video
        for video, n in list(per_video.items())[:50]:
            names = sorted(p[2] for p in rels if p[:2] == video)
            assert names == [f"{i:05d}.wav" for i in range(1, n + 1)]
    spks1 = {f.relative_to(out / "voxceleb1/wav").parts[0] for f in vox1}
    assert {"id10270", "id10271"} <= spks1 and all(s.startswith("id1") for s in spks1)
    # every file is a hard link to one of a few real sources
    assert len({f.stat().st_ino for f in vox2 + vox1}) <= 12 and vox2[0].stat().st_nlink > 1
    assert manifest["counts"]["vox2_utterances"] == counts.vox2_utterances


def test_trial_lists_have_the_scaled_sizes_and_valid_paths(corpus):
    out, _ = corpus
    counts = scaled_counts(SCALE)
    root = out / "voxceleb1"
    present = {str(f.relative_to(root / "wav")) for f in _files(root / "wav", ".wav")}
    sizes = {"veri_test2.txt": counts.trials_O, "list_test_all2.txt": counts.trials_E,
             "list_test_hard2.txt": counts.trials_H}
    for name, size in sizes.items():
        rows = read_voxceleb_list(root / name)
        assert len(rows) == size
        assert len({frozenset(r[1:3]) for r in rows}) == size  # no repeated pair
        targets = sum(r[0] for r in rows)
        assert targets == size // 2
        for is_target, enroll, test, _ in rows:
            assert enroll in present and test in present and enroll != test
            assert (enroll.split("/")[0] == test.split("/")[0]) == is_target
        if name == "veri_test2.txt":
            assert all(10270 <= int(r[1][2:7]) < 10310 and 10270 <= int(r[2][2:7]) < 10310 for r in rows)


def test_rebuild_with_the_same_options_is_a_no_op(corpus):
    out, manifest = corpus
    stamp = (out / MANIFEST).stat().st_mtime_ns
    again = make_scale_corpus(out, scale=SCALE, vox2_format="wav", log=lambda message: None)
    assert again == manifest and (out / MANIFEST).stat().st_mtime_ns == stamp


def test_refuses_a_directory_it_did_not_make(tmp_path):
    (tmp_path / "voxceleb1").mkdir()
    with pytest.raises(ScaleCorpusError, match="not made by this tool"):
        make_scale_corpus(tmp_path, scale=SCALE, vox2_format="wav", log=lambda message: None)


def _stage0(out: Path, data: Path, nj: int) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["bash", "local/prepare_voxceleb.sh", "--nj", str(nj), "--num-heldout-spk", "4",
         str(out / "voxceleb1"), str(out / "voxceleb2"), str(data)],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"), check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_stage0_on_the_tree_one_job_or_three(corpus, tmp_path):
    out, _ = corpus
    counts = scaled_counts(SCALE)
    one = _stage0(out, tmp_path / "one", 1)
    three = _stage0(out, tmp_path / "three", 3)
    assert "1 per-file job(s)" in one.stdout and "3 per-file job(s)" in three.stdout
    assert (three.stdout + three.stderr).count("Successfully validated") == 4  # validate_data_dir.sh
    assert _snapshot(tmp_path / "one") == _snapshot(tmp_path / "three")
    assert not list((tmp_path / "three").glob(".*"))  # the work dir is gone after success
    dev = load_data_dir(tmp_path / "three" / "vox2_dev")
    assert len(dev) == counts.vox2_utterances and len(dev.spks) == counts.vox2_speakers
    vox1 = load_data_dir(tmp_path / "three" / "vox1")
    sizes = {"O": counts.trials_O, "E": counts.trials_E, "H": counts.trials_H}
    for name, size in sizes.items():
        trials = read_trials(tmp_path / f"three/vox1/trials/vox1_{name}_cleaned.kaldi", utts=vox1.utts)
        assert len(trials) == size
    again = _stage0(out, tmp_path / "three", 3)
    assert "per-file job" not in again.stdout and "0 files to read" in again.stderr
    assert _snapshot(tmp_path / "three") == _snapshot(tmp_path / "one")
