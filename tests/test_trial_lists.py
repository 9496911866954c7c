"""Trial-list formats: detection, each format, bad input, missing audio, conversion to Kaldi trials."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssrfnet.kaldi.trial_lists import (
    FORMATS,
    convert_trial_list,
    detect_format,
    read_trial_list,
    require_audio,
    to_kaldi_trials,
)
from ssrfnet.kaldi.trials import TrialsError, read_trials


def _write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize(
    "fmt, lines, expected",
    [
        ("kaldi", ["a b target", "a c nontarget"], [("a", "b", True), ("a", "c", False)]),
        (
            "challenge",
            ["1 id1/x/1.wav id1/y/2.wav", "0 id1/x/1.wav id2/z/3.wav"],
            [("id1/x/1.wav", "id1/y/2.wav", True), ("id1/x/1.wav", "id2/z/3.wav", False)],
        ),
        (
            "official",
            ["1 0 1 /d/a.wav /d/b.wav", "0 0 2 /d/a.wav /d/c.wav"],
            [("/d/a.wav", "/d/b.wav", True), ("/d/a.wav", "/d/c.wav", False)],
        ),
        (
            "key",
            ["m1 audio/x.flac tgt", "m1 audio/y.flac imp"],
            [("m1", "audio/x.flac", True), ("m1", "audio/y.flac", False)],
        ),
        (
            "label-last",
            ["id00800-enroll test/a.wav 1", "id00800-enroll test/b.wav 0"],
            [("id00800-enroll", "test/a.wav", True), ("id00800-enroll", "test/b.wav", False)],
        ),
    ],
)
def test_each_format_is_detected_and_read(tmp_path, fmt, lines, expected):
    trials = read_trial_list(_write(tmp_path / "list.txt", *lines))
    assert trials.format == fmt
    assert [(r.enroll, r.test, r.is_target) for r in trials.rows] == expected
    assert [r.lineno for r in trials.rows] == [1, 2]
    assert trials.num_targets == 1


def test_detection_of_single_lines():
    assert detect_format(["1", "3", "4", "a.wav", "b.wav"]) == "official"
    assert detect_format(["1", "a.wav", "b.wav"]) == "challenge"
    assert detect_format(["a", "b", "target"]) == "kaldi"
    assert detect_format(["a", "b", "tgt"]) == "key"
    assert detect_format(["a", "b", "0"]) == "label-last"
    assert detect_format(["yes", "a.wav", "b.wav"]) is None
    assert detect_format(["1", "a", "b", "c"]) is None


def test_unknown_format_names_file_line_and_accepted_formats(tmp_path):
    path = _write(tmp_path / "odd.txt", "same a.wav b.wav", "1 a.wav b.wav")
    with pytest.raises(TrialsError) as err:
        read_trial_list(path)
    message = str(err.value)
    assert f"{path}:1:" in message and "'same a.wav b.wav'" in message
    assert "unknown trial-list format" in message
    for name in FORMATS:
        assert name in message
    assert "\n" not in message


def test_a_line_of_another_format_later_in_the_file(tmp_path):
    path = _write(tmp_path / "mixed.txt", "1 a.wav b.wav", "0 a.wav c.wav", "a.wav c.wav nontarget")
    with pytest.raises(TrialsError, match=r"mixed.txt:3: not a challenge line .*'a.wav c.wav nontarget'"):
        read_trial_list(path)


def test_unlabelled_challenge_list_is_refused(tmp_path):
    path = _write(tmp_path / "VoxSRC2023_test.txt", "000001.wav 000002.wav")
    with pytest.raises(TrialsError, match="unlabelled challenge list"):
        read_trial_list(path)


def test_a_format_not_accepted_here(tmp_path):
    path = _write(tmp_path / "keys.lst", "1 a.wav b.wav")
    with pytest.raises(TrialsError, match=r"keys.lst:1: a challenge line, not accepted here.*accepted: key"):
        read_trial_list(path, formats=("key",))


def test_forced_format_reads_an_ambiguous_line(tmp_path):
    # '1 x 0' looks like a challenge line; forced, it is CN-Celeb's label-last form
    path = _write(tmp_path / "t.lst", "1 x 0")
    assert read_trial_list(path, fmt="label-last").rows[0].enroll == "1"


def test_empty_lines_and_files(tmp_path):
    with pytest.raises(TrialsError, match=r"e.txt:2: empty line"):
        read_trial_list(_write(tmp_path / "e.txt", "1 a b", ""))
    (tmp_path / "none.txt").write_text("")
    with pytest.raises(TrialsError, match="no trials"):
        read_trial_list(tmp_path / "none.txt")
    with pytest.raises(TrialsError, match="no such trial list"):
        read_trial_list(tmp_path / "absent.txt")


def test_official_key_naming_two_files_is_an_error(tmp_path):
    path = _write(tmp_path / "vcmix_test.txt", "1 7 8 /d/a.wav /d/b.wav", "0 7 9 /d/OTHER.wav /d/c.wav")
    with pytest.raises(TrialsError, match=r"vcmix_test.txt:2: key 7 names '/d/OTHER.wav', but line 1"):
        read_trial_list(path)


def test_missing_audio_is_refused_with_count_and_first(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"x")
    path = _write(tmp_path / "l.txt", "1 a.wav b.wav", "0 a.wav c.wav", "0 b.wav c.wav")
    trials = read_trial_list(path)

    def resolve(name):
        return tmp_path / name if (tmp_path / name).is_file() else None

    with pytest.raises(TrialsError) as err:
        require_audio(trials, resolve)
    message = str(err.value)
    assert "2 of 3 audio files" in message and "line 1: b.wav" in message and "subset" in message
    one = read_trial_list(_write(tmp_path / "m.txt", "1 a.wav b.wav"))
    assert require_audio(one, resolve, sides="enroll") == {"a.wav": tmp_path / "a.wav"}
    with pytest.raises(TrialsError, match="1 of 2 audio files"):
        require_audio(one, resolve)


def test_to_kaldi_refuses_sides_without_utterance(tmp_path):
    trials = read_trial_list(_write(tmp_path / "l.txt", "1 a.wav b.wav", "0 a.wav c.wav"))
    assert to_kaldi_trials(trials, {"a.wav": "A", "b.wav": "B", "c.wav": "C"}) == [
        ("A", "B", True),
        ("A", "C", False),
    ]
    with pytest.raises(TrialsError, match=r"1 sides name no utterance .*line 2: c.wav"):
        to_kaldi_trials(trials, {"a.wav": "A", "b.wav": "B"})


def test_convert_a_challenge_list_over_data_dir_keys(tmp_path):
    src = _write(tmp_path / "voxsrc.txt", "1 000001.wav 000002.wav", "0 000001.wav 000003.wav")
    keys = {f"00000{n}.wav": f"voxsrc23-00000{n}" for n in (1, 2, 3)}
    dst = tmp_path / "trials" / "voxsrc23_test.kaldi"
    assert convert_trial_list(src, dst, keys) == 2
    assert read_trials(dst, utts=keys.values()) == [
        ("voxsrc23-000001", "voxsrc23-000002", True),
        ("voxsrc23-000001", "voxsrc23-000003", False),
    ]
