"""local/download_data.sh with file:// URLs: md5 checks, multi-part joining, unpacking, re-runs."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from ssrfnet.prep.common import PrepError
from ssrfnet.prep.download import download_data, read_urls

from helpers import REPO


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_sources(src: Path) -> list[tuple[str, Path]]:
    src.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("wav/id10001/s1/00001.wav", b"fake wav 1" * 100)
        z.writestr("wav/id10002/s1/00001.wav", b"fake wav 2" * 100)
    data = buf.getvalue()
    half = len(data) // 2
    (src / "vox1_dev_wav_partaa").write_bytes(data[:half])
    (src / "vox1_dev_wav_partab").write_bytes(data[half:])
    with tarfile.open(src / "musan.tar.gz", "w:gz") as t:
        payload = b"noise" * 50
        info = tarfile.TarInfo("musan/noise/free-sound/noise-free-sound-0000.wav")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    (src / "veri_test2.txt").write_text("1 id10001/s1/00001.wav id10001/s1/00001.wav\n")
    names = ["vox1_dev_wav_partaa", "vox1_dev_wav_partab", "musan.tar.gz", "veri_test2.txt"]
    return [(name, src / name) for name in names]


def write_urls(path: Path, items, wrong: str | None = None) -> Path:
    lines = ["# name url md5"]
    for name, file in items:
        md5 = "0" * 32 if name == wrong else _md5(file)
        lines.append(f"{name} {file.as_uri()} {md5}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(dl: Path, urls: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "local/download_data.sh", *extra, str(dl), str(urls)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, LC_ALL="C"),
    )


def test_download_join_unpack(tmp_path):
    items = make_sources(tmp_path / "src")
    urls = write_urls(tmp_path / "urls.txt", items)
    dl = tmp_path / "dl"
    proc = run(dl, urls)
    assert proc.returncode == 0, proc.stderr
    assert (dl / "voxceleb1/wav/id10002/s1/00001.wav").read_bytes() == b"fake wav 2" * 100
    assert (dl / "vox1_dev_wav.zip").is_file()
    assert (dl / "musan/noise/free-sound/noise-free-sound-0000.wav").is_file()
    assert (dl / "voxceleb1/veri_test2.txt").is_file()
    proc = run(dl, urls)
    assert proc.returncode == 0, proc.stderr
    assert "present, md5 ok" in proc.stderr and "already unpacked" in proc.stderr
    assert "already joined" in proc.stderr
    # A corrupted archive already on disk is moved aside and fetched again.
    (dl / "musan.tar.gz").write_bytes(b"junk")
    proc = run(dl, urls)
    assert proc.returncode == 0, proc.stderr
    assert (dl / "musan.tar.gz.bad").read_bytes() == b"junk"
    assert _md5(dl / "musan.tar.gz") == _md5(tmp_path / "src/musan.tar.gz")


def test_wrong_md5(tmp_path):
    items = make_sources(tmp_path / "src")
    urls = write_urls(tmp_path / "urls.txt", items, wrong="musan.tar.gz")
    dl = tmp_path / "dl"
    proc = run(dl, urls)
    assert proc.returncode != 0
    assert "musan.tar.gz: md5 of the download" in proc.stderr and "moved aside" in proc.stderr
    assert not (dl / "musan.tar.gz").exists() and (dl / "musan.tar.gz.bad").is_file()
    assert not (dl / "musan").exists()


def test_stages_and_bad_files(tmp_path):
    items = make_sources(tmp_path / "src")
    urls = write_urls(tmp_path / "urls.txt", items)
    dl = tmp_path / "dl"
    with pytest.raises(PrepError, match="part missing"):
        download_data(dl, urls, stage=1)
    download_data(dl, urls, stage=0)
    assert (dl / "voxceleb1/wav").is_dir()
    bad = tmp_path / "bad.txt"
    bad.write_text("a file:///x 0123\n")
    with pytest.raises(PrepError, match=r"bad.txt:1: '0123' is not an md5"):
        read_urls(bad)
    bad.write_text("a file:///x\n")
    with pytest.raises(PrepError, match=r"bad.txt:1: expected"):
        read_urls(bad)
    proc = run(dl, tmp_path / "nope.txt")
    assert proc.returncode != 0 and "nope.txt: no such URLs file" in proc.stderr
    missing = tmp_path / "missing.txt"
    missing.write_text(f"x.zip {(tmp_path / 'absent.zip').as_uri()} {'0' * 32}\n")
    with pytest.raises(PrepError, match="x.zip: download of .* failed"):
        download_data(tmp_path / "dl2", missing)
