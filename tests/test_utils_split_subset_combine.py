"""Tests for utils/split_data.sh, utils/subset_data_dir.sh and utils/combine_data.sh."""

import os
import subprocess
import time

from helpers import UTILS

# speaker -> number of utterances
SPEAKERS = {"spkA": 4, "spkB": 1, "spkC": 3, "spkD": 2, "spkE": 2}


def sh(tmp_path, script, *args):
    return subprocess.run(
        [str(UTILS / script), *map(str, args)], capture_output=True, text=True, cwd=tmp_path
    )


def make_data(tmp_path, name="data", speakers=None, prefix=""):
    speakers = speakers or SPEAKERS
    d = tmp_path / name
    d.mkdir()
    wavs = tmp_path / "wav"
    wavs.mkdir(exist_ok=True)
    utts = [(f"{prefix}{s}-u{i}", f"{prefix}{s}") for s, n in speakers.items() for i in range(1, n + 1)]
    for u, _ in utts:
        (wavs / f"{u}.wav").touch()
    (d / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in utts))
    (d / "wav.scp").write_text("".join(f"{u} {wavs / u}.wav\n" for u, _ in utts))
    (d / "utt2dur").write_text("".join(f"{u} {1 + (k * 7) % 10}.5\n" for k, (u, _) in enumerate(utts)))
    spks = sorted({s for _, s in utts})
    (d / "spk2utt").write_text("".join(s + " " + " ".join(u for u, x in utts if x == s) + "\n" for s in spks))
    (d / "spk2gender").write_text("".join(f"{s} m\n" for s in spks))
    return d


def read_table(p):
    return [line.split() for line in p.read_text().splitlines()]


def validate(tmp_path, d):
    res = sh(tmp_path, "validate_data_dir.sh", "--no-text", "--no-feats", d)
    assert res.returncode == 0, res.stderr


def test_split_by_speaker(tmp_path):
    d = make_data(tmp_path)
    validate(tmp_path, d)
    res = sh(tmp_path, "split_data.sh", d, 3)
    assert res.returncode == 0, res.stderr
    all_utts, spk_part = [], {}
    for n in (1, 2, 3):
        part = d / "split3" / str(n)
        validate(tmp_path, part)
        u2s = read_table(part / "utt2spk")
        assert u2s, f"part {n} empty"
        for _u, s in u2s:
            assert spk_part.setdefault(s, n) == n, "speaker split across parts"
        all_utts += [u for u, _ in u2s]
        assert [r[0] for r in read_table(part / "wav.scp")] == [u for u, _ in u2s]
        assert [r[0] for r in read_table(part / "utt2dur")] == [u for u, _ in u2s]
        assert sorted(r[0] for r in read_table(part / "spk2gender")) == sorted({s for _, s in u2s})
    assert all_utts == [r[0] for r in read_table(d / "utt2spk")]


def test_split_up_to_date_and_rebuilt(tmp_path):
    d = make_data(tmp_path)
    assert sh(tmp_path, "split_data.sh", d, 2).returncode == 0
    done = d / "split2" / ".done"
    stamp = done.stat().st_mtime_ns
    res = sh(tmp_path, "split_data.sh", d, 2)
    assert res.returncode == 0 and "up to date" in res.stderr
    assert done.stat().st_mtime_ns == stamp
    time.sleep(0.01)
    (d / "utt2dur").touch()
    os.utime(d / "utt2dur", ns=(stamp + 10**9, stamp + 10**9))
    res = sh(tmp_path, "split_data.sh", d, 2)
    assert res.returncode == 0 and "up to date" not in res.stderr


def test_split_too_many_parts(tmp_path):
    d = make_data(tmp_path)
    res = sh(tmp_path, "split_data.sh", d, 6)
    assert res.returncode == 1
    assert "5 speakers" in res.stderr
    assert not (d / "split6").exists()


def test_split_per_utt(tmp_path):
    d = make_data(tmp_path)
    res = sh(tmp_path, "split_data.sh", "--per-utt", d, 6)
    assert res.returncode == 0, res.stderr
    sizes = [len(read_table(d / "split6utt" / str(n) / "utt2spk")) for n in range(1, 7)]
    assert sizes == [2, 2, 2, 2, 2, 2]
    for n in range(1, 7):
        validate(tmp_path, d / "split6utt" / str(n))


def test_split_usage(tmp_path):
    res = sh(tmp_path, "split_data.sh", "only-one-arg")
    assert res.returncode == 1 and "e.g.:" in res.stderr


def keys(p):
    return [r[0] for r in read_table(p)]


def test_subset_modes(tmp_path):
    d = make_data(tmp_path)
    utts = keys(d / "utt2spk")
    res = sh(tmp_path, "subset_data_dir.sh", "--first", d, 3, tmp_path / "first")
    assert res.returncode == 0, res.stderr
    assert keys(tmp_path / "first/utt2spk") == utts[:3]
    validate(tmp_path, tmp_path / "first")
    assert sh(tmp_path, "subset_data_dir.sh", "--last", d, 2, tmp_path / "last").returncode == 0
    assert keys(tmp_path / "last/utt2spk") == utts[-2:]
    assert sh(tmp_path, "subset_data_dir.sh", d, 5, tmp_path / "even").returncode == 0
    even = keys(tmp_path / "even/utt2spk")
    assert len(even) == 5 and even == sorted(even)
    assert sh(tmp_path, "subset_data_dir.sh", d, 5, tmp_path / "even2").returncode == 0
    assert keys(tmp_path / "even2/utt2spk") == even  # deterministic
    validate(tmp_path, tmp_path / "even")


def test_subset_shortest(tmp_path):
    d = make_data(tmp_path)
    durs = {u: float(x) for u, x in read_table(d / "utt2dur")}
    assert sh(tmp_path, "subset_data_dir.sh", "--shortest", d, 3, tmp_path / "short").returncode == 0
    got = keys(tmp_path / "short/utt2spk")
    assert len(got) == 3
    assert max(durs[u] for u in got) <= min(durs[u] for u in durs if u not in got)


def test_subset_per_spk_and_lists(tmp_path):
    d = make_data(tmp_path)
    assert sh(tmp_path, "subset_data_dir.sh", "--per-spk", d, 2, tmp_path / "ps").returncode == 0
    counts = {s: len(us) - 1 for s, *us in [[r[0], *r] for r in read_table(tmp_path / "ps/spk2utt")]}
    assert counts == {"spkA": 2, "spkB": 1, "spkC": 2, "spkD": 2, "spkE": 2}
    validate(tmp_path, tmp_path / "ps")
    (tmp_path / "spks").write_text("spkC\nspkE\n")
    assert (
        sh(tmp_path, "subset_data_dir.sh", "--spk-list", tmp_path / "spks", d, tmp_path / "sl").returncode
        == 0
    )
    assert keys(tmp_path / "sl/spk2utt") == ["spkC", "spkE"]
    assert keys(tmp_path / "sl/spk2gender") == ["spkC", "spkE"]
    (tmp_path / "utts").write_text("spkD-u2\nspkA-u1\nnot-there\n")
    res = sh(tmp_path, "subset_data_dir.sh", "--utt-list", tmp_path / "utts", d, tmp_path / "ul")
    assert res.returncode == 0 and "1 utterance(s)" in res.stderr
    assert keys(tmp_path / "ul/wav.scp") == ["spkA-u1", "spkD-u2"]
    validate(tmp_path, tmp_path / "ul")


def test_subset_errors(tmp_path):
    d = make_data(tmp_path)
    res = sh(tmp_path, "subset_data_dir.sh", d, 100, tmp_path / "big")
    assert res.returncode == 1 and not (tmp_path / "big").exists()
    res = sh(tmp_path, "subset_data_dir.sh", d, 2)
    assert res.returncode == 1 and "e.g.:" in res.stderr
    assert sh(tmp_path, "subset_data_dir.sh", "--first", d, 2, d).returncode == 1


def test_combine(tmp_path):
    a = make_data(tmp_path, "a", {"spkA": 2, "spkB": 1})
    b = make_data(tmp_path, "b", {"spkC": 2}, prefix="x")
    (b / "utt2dur").unlink()
    res = sh(tmp_path, "combine_data.sh", tmp_path / "ab", a, b)
    assert res.returncode == 0, res.stderr
    assert "utt2dur exists in only 1 of 2" in res.stderr
    ab = tmp_path / "ab"
    assert keys(ab / "utt2spk") == sorted(keys(a / "utt2spk") + keys(b / "utt2spk"))
    assert not (ab / "utt2dur").exists()
    validate(tmp_path, ab)
    # --extra-files requires the file everywhere
    res = sh(tmp_path, "combine_data.sh", "--extra-files", "utt2dur", tmp_path / "ab2", a, b)
    assert res.returncode == 1 and "utt2dur" in res.stderr


def test_combine_extra_files_and_shared_speakers(tmp_path):
    a = make_data(tmp_path, "a", {"spkA": 2})
    b = make_data(tmp_path, "b", {"spkA": 1}, prefix="")
    # rename b's utterance so ids are unique but the speaker is shared
    for f in ("utt2spk", "wav.scp", "utt2dur", "spk2utt"):
        (b / f).write_text((b / f).read_text().replace("spkA-u1", "spkA-u9"))
    (tmp_path / "wav" / "spkA-u9.wav").touch()
    res = sh(tmp_path, "combine_data.sh", "--extra-files", "utt2dur", tmp_path / "ab", a, b)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "ab/spk2utt").read_text() == "spkA spkA-u1 spkA-u2 spkA-u9\n"
    assert keys(tmp_path / "ab/utt2dur") == ["spkA-u1", "spkA-u2", "spkA-u9"]
    validate(tmp_path, tmp_path / "ab")


def test_combine_duplicate_utterances(tmp_path):
    a = make_data(tmp_path, "a", {"spkA": 2})
    b = make_data(tmp_path, "b", {"spkA": 1})
    res = sh(tmp_path, "combine_data.sh", tmp_path / "ab", a, b)
    assert res.returncode == 1
    assert "spkA-u1" in res.stderr
    assert not (tmp_path / "ab").exists()


def test_copy_with_suffix_then_combine(tmp_path):
    d = make_data(tmp_path, "a", {"spkA": 2, "spkB": 1})
    res = sh(tmp_path, "copy_data_dir.sh", "--utt-suffix", "-rev", d, tmp_path / "rev")
    assert res.returncode == 0, res.stderr
    rev = tmp_path / "rev"
    assert keys(rev / "utt2spk") == ["spkA-u1-rev", "spkA-u2-rev", "spkB-u1-rev"]
    assert (rev / "utt2uniq").read_text().splitlines()[0] == "spkA-u1-rev spkA-u1"
    assert (rev / "wav.scp").read_text().splitlines()[0].endswith("/wav/spkA-u1.wav")
    validate(tmp_path, rev)
    res = sh(tmp_path, "combine_data.sh", "--extra-files", "utt2dur", tmp_path / "all", d, rev)
    assert res.returncode == 0, res.stderr
    assert len(keys(tmp_path / "all/utt2spk")) == 6
    assert (tmp_path / "all/spk2utt").read_text().startswith("spkA spkA-u1 spkA-u1-rev spkA-u2 spkA-u2-rev\n")
    validate(tmp_path, tmp_path / "all")
