"""Stage 0's per-file job array: cost-balanced shares, results tied to their share, batched ffmpeg decoding
byte-identical to one file at a time, bad files named, and a failed job re-run alone."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssrfnet.audio import audio_num_samples
from ssrfnet.prep.audio_jobs import (
    FFMPEG_PIPE,
    FileTask,
    collect_samples,
    convert_all,
    convert_to_wav,
    count_all,
    run_share,
    share_path,
    split_points,
    write_shares,
)
from ssrfnet.prep.common import PrepError

from helpers import REPO

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def _wav(path: Path, seconds: float, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sf.write(path, 0.1 * rng.standard_normal(int(seconds * 16000)), 16000, subtype="PCM_16")
    return path


def _m4a(path: Path, seconds: float, seed: int = 0) -> Path:
    wav = _wav(path.with_suffix(".src.wav"), seconds, seed)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "8", "-y", "-i", str(wav), "-c:a", "aac", str(path)],
                   check=True)
    wav.unlink()
    return path


@pytest.mark.parametrize("costs, jobs", [([1000, 1, 1, 1], 3), ([1, 1, 1, 1000, 1, 1], 3), ([5] * 7, 7),
                                         ([1] * 10, 1), (list(range(1, 50)), 6)])
def test_split_points_cover_everything_and_balance(costs, jobs):
    bounds = split_points(costs, jobs)
    assert bounds[0] == 0 and bounds[-1] == len(costs) and len(bounds) == jobs + 1
    assert all(a < b for a, b in zip(bounds, bounds[1:]))  # no empty share
    shares = [sum(costs[a:b]) for a, b in zip(bounds, bounds[1:])]
    assert max(shares) <= sum(costs) / jobs + max(costs)


def test_split_points_rejects_impossible_cuts():
    with pytest.raises(ValueError, match="cannot cut 2 tasks into 3"):
        split_points([1, 1], 3)


def _tasks(root: Path, n: int) -> list[FileTask]:
    return [FileTask(f"utt{i:02d}", str(p), str(p)) for i, p in
            ((i, _wav(root / f"{i:02d}.wav", 0.1 + 0.01 * i, i)) for i in range(n))]


def test_shares_results_and_staleness(tmp_path):
    tasks = _tasks(tmp_path / "audio", 7)
    work = tmp_path / "work"
    work.mkdir()
    assert write_shares(work, tasks, 3) == 3
    assert sum(len(share_path(work, j).read_text().splitlines()) for j in (1, 2, 3)) == 7
    with pytest.raises(PrepError, match=r"samples.1.tsv: missing or computed from another share"):
        collect_samples(work, 3)
    assert [run_share(work, j) for j in (1, 2, 3)] == [3, 2, 2]
    samples = collect_samples(work, 3)
    assert samples == {t.key: audio_num_samples(t.entry) for t in tasks}
    assert run_share(work, 2) == 0  # a finished share is not redone
    assert write_shares(work, tasks[:2], 8) == 2  # never more shares than tasks
    with pytest.raises(PrepError, match=r"samples.1.tsv: missing or computed from another share"):
        collect_samples(work, 2)
    assert write_shares(work, [], 4) == 0 and not list(work.glob("todo.*"))


def test_a_tab_in_a_path_is_refused(tmp_path):
    bad = FileTask("utt1", "/data/a\tb.wav", "/data/a\tb.wav")
    with pytest.raises(PrepError, match=r"utterance utt1 .*tab or newline"):
        write_shares(tmp_path, [bad], 1)


@needs_ffmpeg
def test_batched_conversion_is_byte_identical(tmp_path):
    sources = [_m4a(tmp_path / f"src/{i}.m4a", 0.3 + 0.2 * i, i) for i in range(5)]
    tasks = [FileTask(f"u{i}", str(tmp_path / f"batch/{i}.wav"), str(s), str(tmp_path / f"batch/{i}.wav"))
             for i, s in enumerate(sources)]
    convert_all(tasks, batch=3)
    for i, source in enumerate(sources):
        single = tmp_path / f"single/{i}.wav"
        convert_to_wav(str(source), str(single), f"u{i}")
        assert (tmp_path / f"batch/{i}.wav").read_bytes() == single.read_bytes()
    assert not list((tmp_path / "batch").glob(".*"))  # no temporary left


@needs_ffmpeg
def test_batched_pipe_counts_equal_decoding_the_pipe(tmp_path):
    sources = [_m4a(tmp_path / f"{i}.m4a", 0.25 + 0.15 * i, i) for i in range(4)]
    tasks = [FileTask(f"u{i}", FFMPEG_PIPE.format(path=shlex.quote(str(s))), str(s))
             for i, s in enumerate(sources)]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    counts = count_all(tasks, scratch, batch=3)
    assert counts == [(t.key, audio_num_samples(t.entry)) for t in tasks]
    assert not list(scratch.iterdir())


@needs_ffmpeg
def test_a_bad_file_in_a_batch_is_named(tmp_path):
    good = [_m4a(tmp_path / f"src/{i}.m4a", 0.3, i) for i in range(3)]
    bad = tmp_path / "src/bad.m4a"
    bad.write_bytes(b"not an m4a at all")
    sources = good[:2] + [bad] + good[2:]
    tasks = [FileTask(f"u{i}", str(tmp_path / f"out/{i}.wav"), str(s), str(tmp_path / f"out/{i}.wav"))
             for i, s in enumerate(sources)]
    with pytest.raises(PrepError, match=r"utterance u2 \(.*bad.m4a\): ffmpeg conversion to wav failed"):
        convert_all(tasks, batch=4)
    assert not (tmp_path / "out/2.wav").exists() and not list((tmp_path / "out").glob(".*"))


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "local/prepare_voxceleb.sh", *args], cwd=REPO, capture_output=True,
                          text=True, env=dict(os.environ, LC_ALL="C"), check=False)


def test_a_failed_job_keeps_its_log_and_the_rerun_redoes_only_its_share(tmp_path):
    vox1, vox2 = tmp_path / "voxceleb1", tmp_path / "voxceleb2"
    for i, spk in enumerate(("id10001", "id10002")):
        for n in (1, 2):
            _wav(vox1 / f"wav/{spk}/sessA/{n:05d}.wav", 0.2, i * 10 + n)
    for i in range(6):
        for n in (1, 2):
            _wav(vox2 / f"dev/aac/id0000{i}/v{n}/00001.wav", 0.2 + 0.01 * i, 100 + i * 10 + n)
    broken = vox2 / "dev/aac/id00005/v2/00001.wav"
    broken.write_bytes(b"RIFF....junk")
    data, work = tmp_path / "data", tmp_path / "work"
    args = ["--nj", "2", "--num-heldout-spk", "2", "--work-dir", str(work), str(vox1), str(vox2), str(data)]
    failed = _script(*args)
    assert failed.returncode != 0
    assert "utterance id00005-v2-00001" in failed.stderr and "files.*.log" in failed.stderr
    assert not data.exists() or not list(data.iterdir())
    assert (work / "samples.1.tsv").is_file() and not (work / "samples.2.tsv").exists()
    _wav(broken, 0.3, 7)
    fixed = _script("--keep-work", "true", *args)
    assert fixed.returncode == 0, fixed.stderr
    assert "already computed from this share" in (work / "log/files.1.log").read_text()
    assert "already computed" not in (work / "log/files.2.log").read_text()
    assert (data / "vox2_dev/utt2dur").read_text().count("\n") == 12
    assert _script(*args).returncode == 0 and not work.exists()
