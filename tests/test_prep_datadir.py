"""Data-directory loading/validation and trial-list conversion."""

from __future__ import annotations

import pytest

from ssrfnet.kaldi.datadir import DataDirError, load_data_dir, spk2utt_lines, validate
from ssrfnet.kaldi.trials import TrialsError, convert_voxceleb_list, read_trials, read_voxceleb_list


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


def make_dir(root, utts=None):
    utts = utts or {"a-1": "a", "a-2": "a", "b-1": "b"}
    root.mkdir(parents=True, exist_ok=True)
    _write(root / "utt2spk", [f"{u} {s}" for u, s in sorted(utts.items())])
    _write(root / "spk2utt", [f"{s} {u}" for s, u in spk2utt_lines(utts)])
    _write(root / "wav.scp", [f"{u} /x/{u}.wav" for u in sorted(utts)])
    _write(root / "utt2dur", [f"{u} 1.5" for u in sorted(utts)])
    return root


def test_load_ok(tmp_path):
    d = load_data_dir(make_dir(tmp_path / "d"))
    assert d.utts == ["a-1", "a-2", "b-1"]
    assert d.spks == ["a", "b"]
    assert d.spk2utts["a"] == ["a-1", "a-2"]
    assert d.wav("b-1") == "/x/b-1.wav" and d.spk("a-2") == "a" and d.dur("a-1") == 1.5
    assert validate(tmp_path / "d") == []
    with pytest.raises(KeyError, match="no utterance 'zz'"):
        d.wav("zz")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("utt2spk", "a-2 a\na-1 a\nb-1 b\n", r"utt2spk:2: key 'a-1' is not in sorted"),
        ("utt2spk", "a-1 a\na-1 a\nb-1 b\n", r"utt2spk:2: duplicate key 'a-1'"),
        ("utt2spk", "a-1 a x\na-2 a\nb-1 b\n", r"utt2spk:1: expected 2 fields"),
        ("wav.scp", "a-1 /x\na-2 /y\n", r"wav.scp: utterance 'b-1' of .*utt2spk is missing"),
        ("wav.scp", "a-1 /x\na-2 /y\nb-1 ~/z\n", r"wav.scp:3: '~' is not allowed"),
        ("wav.scp", "a-1 /x\na-2 /y\nb-1 /z", r"wav.scp: last line does not end in a newline"),
        ("utt2dur", "a-1 1\na-2 -1\nb-1 2\n", r"utt2dur:2: bad duration '-1' for utterance 'a-2'"),
        ("spk2utt", "a a-1\nb b-1\n", r"spk2utt:1: does not match"),
        ("utt2dur", "a-1 1\na-2 1\nb-1 2\nc-1 2\n", r"utt2dur: utterance 'c-1' is not in"),
    ],
)
def test_bad_dirs(tmp_path, name, content, message):
    d = make_dir(tmp_path / "d")
    (d / name).write_text(content)
    with pytest.raises(DataDirError, match=message):
        validate(d)


def test_speaker_sort_and_prefix(tmp_path):
    d = make_dir(tmp_path / "d", {"u1": "s2", "u2": "s1"})
    with pytest.raises(DataDirError, match=r"utt2spk:1: utt2spk is not sorted by speaker"):
        validate(d)
    d = make_dir(tmp_path / "e", {"u1": "s1", "u2": "s2"})
    validate(d)
    with pytest.raises(DataDirError, match=r"utterance 'u1' does not start with its speaker id 's1'"):
        load_data_dir(d)
    assert len(load_data_dir(d, require_spk_prefix=False)) == 2


def test_missing(tmp_path):
    with pytest.raises(DataDirError, match="no such data directory"):
        load_data_dir(tmp_path / "nope")
    d = make_dir(tmp_path / "d")
    (d / "spk2utt").unlink()
    with pytest.raises(DataDirError, match="spk2utt: no such file"):
        load_data_dir(d)


REL2KEY = {"id1/s-a/00001": "id1-s-a-00001", "id1/s-b/00002": "id1-s-b-00002", "id2/x/00001": "id2-x-00001"}


def test_convert_list(tmp_path):
    src = tmp_path / "veri_test2.txt"
    _write(src, ["1 id1/s-a/00001.wav id1/s-b/00002.wav", "0 id1/s-a/00001.wav id2/x/00001.wav"])
    assert convert_voxceleb_list(src, tmp_path / "t.kaldi", REL2KEY) == 2
    assert (tmp_path / "t.kaldi").read_text() == (
        "id1-s-a-00001 id1-s-b-00002 target\nid1-s-a-00001 id2-x-00001 nontarget\n"
    )
    trials = read_trials(tmp_path / "t.kaldi", utts=REL2KEY.values())
    assert trials == [("id1-s-a-00001", "id1-s-b-00002", True), ("id1-s-a-00001", "id2-x-00001", False)]


@pytest.mark.parametrize(
    "name, lines, message",
    [
        ("veri_test.txt", ["1 a b"], r"veri_test.txt: this is the original, uncleaned"),
        ("list_test_hard.txt", ["1 a b"], r"uncleaned VoxCeleb1 list; use the cleaned list_test_hard2.txt"),
        ("l2.txt", ["1 id1/s-a/00001.wav id1/s-b/00002.wav", "2 a b"], r"l2.txt:2: label must be 0 or 1"),
        ("l2.txt", ["1 id1/s-a/00001.wav id1/s-b/00002.wav", "1 a b c"], r"l2.txt:2: expected 3 fields"),
        ("l2.txt", ["target id1/s-a/00001.wav id1/s-b/00002.wav"], r"l2.txt:1: label must be 0 or 1"),
        (
            "l2.txt",
            ["1 id1/s-a/00001.wav id1/s-b/00002.wav", "0 id1/s-a/00001.wav id9/gone/00007.wav"],
            r"l2.txt:2: utterance 'id9/gone/00007.wav' is not in the VoxCeleb1 wav tree",
        ),
    ],
)
def test_bad_lists(tmp_path, name, lines, message):
    src = tmp_path / name
    _write(src, lines)
    with pytest.raises(TrialsError, match=message):
        convert_voxceleb_list(src, tmp_path / "t.kaldi", REL2KEY)
    assert not (tmp_path / "t.kaldi").exists()


def test_uncleaned_by_size(tmp_path):
    src = tmp_path / "renamed.txt"
    src.write_text("1 id1/s-a/00001.wav id1/s-b/00002.wav\n" * 37720)
    with pytest.raises(TrialsError, match="size of the original uncleaned veri_test.txt"):
        read_voxceleb_list(src)


def test_read_trials_errors(tmp_path):
    path = tmp_path / "t"
    path.write_text("a b target\nc d maybe\n")
    with pytest.raises(TrialsError, match=r"t:2: label must be 'target' or 'nontarget'"):
        read_trials(path)
    path.write_text("a b target\nc d\n")
    with pytest.raises(TrialsError, match=r"t:2: expected"):
        read_trials(path)
    path.write_text("a b target\nc d nontarget\n")
    with pytest.raises(TrialsError, match=r"t:2: unknown utterance 'c'"):
        read_trials(path, utts=["a", "b", "d"])
