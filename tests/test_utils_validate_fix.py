"""Tests for utils/validate_data_dir.sh, utils/fix_data_dir.sh and the small table helpers."""

import subprocess

import pytest

from helpers import UTILS

SPEAKERS = {"spk1": 3, "spk2": 2, "spk3": 2}


def sh(tmp_path, script, *args, stdin=None):
    return subprocess.run(
        [str(UTILS / script), *map(str, args)], capture_output=True, text=True, cwd=tmp_path, input=stdin
    )


def make_data(tmp_path, name="data"):
    """A small valid data dir with empty placeholder wavs."""
    d = tmp_path / name
    wavs = tmp_path / "wav"
    d.mkdir()
    wavs.mkdir(exist_ok=True)
    utts = [(f"{s}-utt{i}", s) for s, n in SPEAKERS.items() for i in range(1, n + 1)]
    wav, u2s, dur = [], [], []
    for k, (u, s) in enumerate(utts):
        (wavs / f"{u}.wav").touch()
        wav.append(f"{u} {wavs / u}.wav\n")
        u2s.append(f"{u} {s}\n")
        dur.append(f"{u} {1.0 + k}\n")
    (d / "wav.scp").write_text("".join(wav))
    (d / "utt2spk").write_text("".join(u2s))
    (d / "utt2dur").write_text("".join(dur))
    spk2utt = "".join(f"{s} " + " ".join(u for u, sp in utts if sp == s) + "\n" for s in SPEAKERS)
    (d / "spk2utt").write_text(spk2utt)
    return d


def validate(tmp_path, d, *opts):
    return sh(tmp_path, "validate_data_dir.sh", *(opts or ("--no-text", "--no-feats")), d)


def test_good_dir(tmp_path):
    d = make_data(tmp_path)
    res = validate(tmp_path, d)
    assert res.returncode == 0, res.stderr
    assert "Successfully validated" in res.stderr


def test_text_and_feats_required_by_default(tmp_path):
    d = make_data(tmp_path)
    res = validate(tmp_path, d, "--no-spk-sort")
    assert res.returncode == 1
    assert "text" in res.stderr and "feats.scp" in res.stderr


def test_empty_dir(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "utt2spk" in res.stderr


def test_single_speaker_warns(tmp_path):
    d = tmp_path / "one"
    d.mkdir()
    (tmp_path / "a.wav").touch()
    (d / "wav.scp").write_text(f"s-1 {tmp_path}/a.wav\n")
    (d / "utt2spk").write_text("s-1 s\n")
    (d / "spk2utt").write_text("s s-1\n")
    res = validate(tmp_path, d)
    assert res.returncode == 0, res.stderr
    assert "WARNING" in res.stderr and "one speaker" in res.stderr


def lines(p):
    return p.read_text().splitlines(keepends=True)


def test_unsorted_keys(tmp_path):
    d = make_data(tmp_path)
    ls = lines(d / "utt2dur")
    ls[0], ls[1] = ls[1], ls[0]
    (d / "utt2dur").write_text("".join(ls))
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "utt2dur" in res.stderr and "not sorted" in res.stderr and "line 2" in res.stderr


def test_duplicate_keys(tmp_path):
    d = make_data(tmp_path)
    ls = lines(d / "wav.scp")
    (d / "wav.scp").write_text("".join(ls[:2] + [ls[1]] + ls[2:]))
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "wav.scp" in res.stderr and "duplicate key spk1-utt2" in res.stderr


def test_utt2spk_not_speaker_sorted(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for u in ("a", "b", "c"):
        (tmp_path / f"{u}.wav").touch()
    (d / "wav.scp").write_text("".join(f"{u} {tmp_path}/{u}.wav\n" for u in "abc"))
    (d / "utt2spk").write_text("a s2\nb s1\nc s2\n")
    (d / "spk2utt").write_text("s1 b\ns2 a c\n")
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "utt2spk" in res.stderr and "sorted first on speaker" in res.stderr
    assert "line 1: a" in res.stderr
    assert validate(tmp_path, d, "--no-text", "--no-feats", "--no-spk-sort").returncode == 0


def test_utt2spk_field_count(tmp_path):
    d = make_data(tmp_path)
    ls = lines(d / "utt2spk")
    ls[2] = ls[2].rstrip("\n") + " extra\n"
    (d / "utt2spk").write_text("".join(ls))
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "utt2spk" in res.stderr and "line 3" in res.stderr


def test_spk2utt_mismatch(tmp_path):
    d = make_data(tmp_path)
    (d / "spk2utt").write_text(
        "spk1 spk1-utt1 spk1-utt2 spk1-utt3\nspk2 spk2-utt1\nspk3 spk3-utt1 spk3-utt2\n"
    )
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "spk2utt" in res.stderr and "spk2" in res.stderr


def test_missing_wav_file(tmp_path):
    d = make_data(tmp_path)
    (tmp_path / "wav" / "spk2-utt1.wav").unlink()
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "wav.scp" in res.stderr and "spk2-utt1" in res.stderr
    # pipes are not checked
    text = (
        (d / "wav.scp")
        .read_text()
        .replace(f"spk2-utt1 {tmp_path}/wav/spk2-utt1.wav", "spk2-utt1 sox missing.flac -t wav - |")
    )
    (d / "wav.scp").write_text(text)
    assert validate(tmp_path, d).returncode == 0


def test_tilde_rejected(tmp_path):
    d = make_data(tmp_path)
    (d / "wav.scp").write_text(
        (d / "wav.scp").read_text().replace(f"{tmp_path}/wav/spk3-utt2.wav", "~/x.wav")
    )
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "wav.scp" in res.stderr and "~" in res.stderr


def test_mismatched_utterance_lists(tmp_path):
    d = make_data(tmp_path)
    ls = lines(d / "wav.scp")
    (d / "wav.scp").write_text("".join(ls[:-1]))
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "wav.scp lacks key 'spk3-utt2'" in res.stderr
    d2 = make_data(tmp_path, "data2")
    (d2 / "utt2dur").write_text((d2 / "utt2dur").read_text() + "zzz-9 1.0\n")
    res = validate(tmp_path, d2)
    assert res.returncode == 1
    assert "utt2dur has key 'zzz-9'" in res.stderr


def test_missing_final_newline(tmp_path):
    d = make_data(tmp_path)
    (d / "utt2dur").write_text((d / "utt2dur").read_text().rstrip("\n"))
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "utt2dur does not end with a newline" in res.stderr


def test_bad_duration(tmp_path):
    d = make_data(tmp_path)
    (d / "utt2dur").write_text((d / "utt2dur").read_text().replace("spk1-utt2 2.0", "spk1-utt2 abc"))
    res = validate(tmp_path, d)
    assert res.returncode == 1
    assert "utt2dur" in res.stderr and "spk1-utt2" in res.stderr


def test_fix_data_dir(tmp_path):
    d = make_data(tmp_path)
    orig_wav = (d / "wav.scp").read_text()
    # shuffle, duplicate a line, drop one utt from utt2dur, add a stray wav entry, remove spk2utt
    ls = lines(d / "utt2spk")
    (d / "utt2spk").write_text("".join(reversed(ls + [ls[0]])))
    (d / "utt2dur").write_text("".join(lines(d / "utt2dur")[1:]))
    (d / "wav.scp").write_text(orig_wav + "zzz-1 /nonexistent.wav\n")
    (d / "spk2utt").unlink()
    res = sh(tmp_path, "fix_data_dir.sh", d)
    assert res.returncode == 0, res.stderr
    assert "kept 6 of 7 utterances (1 removed)" in res.stderr
    assert (d / ".backup" / "utt2spk").exists()
    assert "zzz-1" in (d / ".backup" / "wav.scp").read_text()
    assert "spk1-utt1" not in (d / "utt2spk").read_text()
    assert (d / "spk2utt").read_text().startswith("spk1 spk1-utt2 spk1-utt3\n")
    res = validate(tmp_path, d)
    assert res.returncode == 0, res.stderr


def test_fix_data_dir_conflicting_duplicate_fails(tmp_path):
    d = make_data(tmp_path)
    before = (d / "utt2spk").read_text()
    (d / "utt2spk").write_text(before + "spk1-utt1 spk2\n")
    res = sh(tmp_path, "fix_data_dir.sh", d)
    assert res.returncode == 1
    assert "duplicate key spk1-utt1" in res.stderr
    assert not (d / ".backup").exists()


def test_fix_data_dir_extra_files(tmp_path):
    d = make_data(tmp_path)
    (d / "utt2lang").write_text("spk1-utt1 en\nspk2-utt1 de\n")
    (d / "utt2foo").write_text("spk1-utt1 x\n")
    res = sh(tmp_path, "fix_data_dir.sh", "--utt-extra-files", "utt2foo", d)
    assert res.returncode == 0, res.stderr
    assert (d / "utt2spk").read_text() == "spk1-utt1 spk1\n"


def test_usage_messages(tmp_path):
    for script in ("validate_data_dir.sh", "fix_data_dir.sh", "filter_scp.pl"):
        res = sh(tmp_path, script)
        assert res.returncode == 1
        assert "e.g.:" in res.stderr


def test_filter_scp(tmp_path):
    ids = tmp_path / "ids"
    ids.write_text("b extra\nc\n")
    scp = "c 3\na 1\nb 2\n"
    assert sh(tmp_path, "filter_scp.pl", ids, stdin=scp).stdout == "c 3\nb 2\n"
    assert sh(tmp_path, "filter_scp.pl", "--exclude", ids, stdin=scp).stdout == "a 1\n"
    (tmp_path / "in").write_text("x c\ny a\n")
    assert sh(tmp_path, "filter_scp.pl", "-f", "2", ids, "in").stdout == "x c\n"


@pytest.mark.parametrize("utt2spk", ["a-1 a\na-2 a\nb-1 b\n", "u1 s\n"])
def test_utt2spk_spk2utt_round_trip(tmp_path, utt2spk):
    spk2utt = sh(tmp_path, "utt2spk_to_spk2utt.pl", stdin=utt2spk)
    assert spk2utt.returncode == 0
    if utt2spk.startswith("a-1"):
        assert spk2utt.stdout == "a a-1 a-2\nb b-1\n"
    (tmp_path / "spk2utt").write_text(spk2utt.stdout)
    back = sh(tmp_path, "spk2utt_to_utt2spk.pl", "spk2utt")
    assert back.stdout == utt2spk


def test_utt2spk_to_spk2utt_bad_line(tmp_path):
    res = sh(tmp_path, "utt2spk_to_spk2utt.pl", stdin="a b c\n")
    assert res.returncode == 1
    assert "line 1" in res.stderr
