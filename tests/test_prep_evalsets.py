"""Stage 0 for the evaluation sets on small synthetic layouts, as distributed: each local/prepare_<set>.sh,
the VCMix construction, the CN-Celeb enrolment protocol, official-format lists and bad input."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssrfnet.audio import read_audio
from ssrfnet.kaldi.datadir import load_data_dir
from ssrfnet.kaldi.table import read_dict
from ssrfnet.kaldi.trials import TrialsError, read_trials
from ssrfnet.prep.common import PrepError
from ssrfnet.prep.evalsets import prepare_cnceleb, prepare_vcmix, prepare_voxsrc23

from helpers import REPO


def _audio(path: Path, seconds: float = 0.3, seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * 16000))).astype(np.float32)
    sf.write(path, x, 16000, subtype="PCM_16", format="FLAC" if path.suffix == ".flac" else "WAV")
    return sf.read(path, dtype="float32")[0]


def _lines(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        ["bash", script, *args],
        cwd=REPO / "egs/voxceleb",
        capture_output=True,
        text=True,
        env=dict(env, LC_ALL="C"),
        check=False,
    )


def _ok(script: str, *args: str) -> str:
    proc = _run(script, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _trials(data: Path, name: str, set_name: str) -> list[tuple[str, str, bool]]:
    return read_trials(data / set_name / "trials" / f"{name}.kaldi", utts=load_data_dir(data / set_name).utts)


# ---------------------------------------------------------------------------------------------- layouts
def voxsrc23_layout(root: Path) -> Path:
    for n in range(4):
        _audio(root / "VoxSRC2023_test" / f"{n:06d}.wav", seed=n)
    _lines(
        root / "VoxSRC2023_test.txt",
        "1 000000.wav 000001.wav",
        "0 000000.wav 000002.wav",
        "1 000002.wav 000003.wav",
        "0 000001.wav 000003.wav",
    )
    return root


def vox1_layout(root: Path) -> Path:
    for n, (spk, sess) in enumerate(
        [("id10001", "aa"), ("id10001", "bb"), ("id10002", "cc"), ("id10002", "dd")]
    ):
        _audio(root / "wav" / spk / sess / "00001.wav", seed=10 + n)
    _lines(
        root / "veri_test2.txt",
        "1 id10001/aa/00001.wav id10001/bb/00001.wav",
        "0 id10001/aa/00001.wav id10002/cc/00001.wav",
        "1 id10002/cc/00001.wav id10002/dd/00001.wav",
    )
    return root


def voxconverse_layout(root: Path) -> Path:
    sv = root / "voxconverse_test_SV"
    names = [f"{rec}/{rec}_spk{k:02d}_001.wav" for rec in ("abcde", "fghij") for k in (0, 1)]
    for n, name in enumerate(names):
        _audio(sv / name, seed=20 + n)
    _lines(
        sv / "trials_wo_overlap.txt",
        f"0 {names[0]} {names[1]}",
        f"1 {names[0]} {names[0]}",
        f"0 {names[2]} {names[3]}",
        f"0 {names[1]} {names[3]}",
    )
    return root


def voices_layout(root: Path) -> Path:
    stems = {
        spk: f"Lab41-SRI-VOiCES-rm1-none-sp{spk}-ch000001-sg0001-mc01-stu-clo-dg090"
        for spk in ("0011", "0022")
    }
    tests = {
        spk: f"sid_dev/sp{spk}/Lab41-SRI-VOiCES-rm1-babb-sp{spk}-ch000001-sg0002-mc02-stu-far-dg000.wav"
        for spk in stems
    }
    for n, spk in enumerate(stems):
        _audio(root / f"sid_dev/sp{spk}/{stems[spk]}.wav", seed=30 + n)
        _audio(root / tests[spk], seed=40 + n)
    lists = root / "sid_dev_lists_and_keys"
    _lines(lists / "dev-enroll.lst", *(f"{stem} sid_dev/sp{spk}/{stem}.wav" for spk, stem in stems.items()))
    _lines(
        lists / "dev-trial-keys.lst",
        *(f"{stems[a]} {tests[b]} {'tgt' if a == b else 'imp'}" for a in stems for b in stems),
    )
    for n, name in enumerate(("enra", "enrb", "tsta", "tstb")):
        _audio(root / "sid_eval" / f"{name}.wav", seed=50 + n)
    _lines(root / "sid_eval_lists/eval-enroll.lst", "enra sid_eval/enra.wav", "enrb sid_eval/enrb.wav")
    _lines(
        root / "VOiCES_challenge_2019_post-eval-release/VOiCES_challenge_2019_eval.SID.trial-keys.lst",
        "enra tsta.wav tgt",
        "enra tstb.wav imp",
        "enrb tsta.wav imp",
        "enrb tstb.wav tgt",
    )
    return root


def cnceleb_layout(root: Path, with_enroll_files: bool = False) -> dict[str, list[np.ndarray]]:
    """CN-Celeb_flac: two eval speakers, three enrolment utterances each; lists name .wav as real ones do."""
    enroll_audio = {}
    lists = root / "eval" / "lists"
    maps, trials = [], []
    for n, spk in enumerate(("id00800", "id00801")):
        files = [f"{spk}/interview-01-00{k}.wav" for k in (1, 2, 3)]
        enroll_audio[spk] = [
            _audio(root / "data" / f.replace(".wav", ".flac"), 0.2 + 0.1 * k, seed=60 + 3 * n + k)
            for k, f in enumerate(files)
        ]
        maps.append(f"{spk}-enroll {' '.join(files)}")
        _audio(root / "eval" / "test" / f"{spk}-singing-02-001.flac", seed=70 + n)
        if with_enroll_files:
            _audio(root / "eval" / "enroll" / f"{spk}-enroll.flac", 0.5, seed=80 + n)
    for a in ("id00800", "id00801"):
        for b in ("id00800", "id00801"):
            trials.append(f"{a}-enroll test/{b}-singing-02-001.wav {int(a == b)}")
    _lines(lists / "enroll.map", *maps)
    _lines(lists / "trials.lst", *trials)
    if with_enroll_files:
        _lines(
            lists / "enroll.lst",
            "id00800-enroll enroll/id00800-enroll.wav",
            "id00801-enroll enroll/id00801-enroll.wav",
        )
    return enroll_audio


def sitw_layout(root: Path) -> Path:
    for n, part in enumerate(("dev", "eval")):
        for k, name in enumerate(("aaaaa", "bbbbb", "ccccc", "ddddd")):
            _audio(root / part / "audio" / f"{name}.flac", seed=90 + 4 * n + k)
        _lines(root / part / "lists/enroll-core.lst", "10001 audio/aaaaa.flac", "10002 audio/bbbbb.flac")
        _lines(
            root / part / "keys/core-core.lst",
            "10001 audio/ccccc.flac tgt",
            "10001 audio/ddddd.flac imp",
            "10002 audio/ccccc.flac imp",
            "10002 audio/ddddd.flac tgt",
        )
    return root


# ------------------------------------------------------------------------------------ the shell scripts
def test_prepare_voxsrc23(tmp_path):
    root, data = voxsrc23_layout(tmp_path / "voxsrc23"), tmp_path / "data"
    out = _ok("local/prepare_voxsrc23.sh", "--nj", "2", str(root), str(data))
    assert "Successfully validated" in out
    assert _trials(data, "voxsrc23_test", "voxsrc23") == [
        ("voxsrc23-000000", "voxsrc23-000001", True),
        ("voxsrc23-000000", "voxsrc23-000002", False),
        ("voxsrc23-000002", "voxsrc23-000003", True),
        ("voxsrc23-000001", "voxsrc23-000003", False),
    ]
    info = json.loads((data / "voxsrc23/corpus.json").read_text())
    assert info["corpus"] == "real" and info["lists"]["voxsrc23_test"]["format"] == "challenge"
    assert read_dict(data / "voxsrc23/utt2dur")["voxsrc23-000000"] == "0.3"


def test_prepare_vcmix_builds_the_list_from_voxconverse_and_voxceleb1(tmp_path):
    root, vox1, data = (
        voxconverse_layout(tmp_path / "vcmix"),
        vox1_layout(tmp_path / "vox1"),
        tmp_path / "data",
    )
    _ok("local/prepare_vcmix.sh", "--nj", "2", "--vox1-root", str(vox1), str(root), str(data))
    built = (data / "vcmix" / "vcmix_test.txt").read_text().splitlines()
    # VoxConverse label-0 trials first (its label-1 line dropped), then VoxCeleb1-O targets, as published
    assert built == [
        "0 abcde/abcde_spk00_001.wav abcde/abcde_spk01_001.wav",
        "0 fghij/fghij_spk00_001.wav fghij/fghij_spk01_001.wav",
        "0 abcde/abcde_spk01_001.wav fghij/fghij_spk01_001.wav",
        "1 id10001/aa/00001.wav id10001/bb/00001.wav",
        "1 id10002/cc/00001.wav id10002/dd/00001.wav",
    ]
    trials = _trials(data, "vcmix_test", "vcmix")
    assert [t[2] for t in trials] == [False, False, False, True, True]
    assert trials[0][:2] == ("vcmix-vc-abcde-abcde_spk00_001", "vcmix-vc-abcde-abcde_spk01_001")
    assert trials[3][:2] == ("vcmix-vox1-id10001-aa-00001", "vcmix-vox1-id10001-bb-00001")
    info = json.loads((data / "vcmix/corpus.json").read_text())["lists"]["vcmix_test"]
    assert info["source"].startswith("built from") and info["targets"] == 2 and info["trials"] == 5


def test_prepare_vcmix_uses_the_published_list(tmp_path):
    root, vox1, data = (
        voxconverse_layout(tmp_path / "vcmix"),
        vox1_layout(tmp_path / "vox1"),
        tmp_path / "data",
    )
    _lines(
        root / "vcmix_test.txt",
        "0 abcde/abcde_spk00_001.wav fghij/fghij_spk00_001.wav",
        "1 id10001/aa/00001.wav id10001/bb/00001.wav",
    )
    prepare_vcmix(root, vox1, data, nj=1)
    assert [t[2] for t in _trials(data, "vcmix_test", "vcmix")] == [False, True]
    assert not (data / "vcmix" / "vcmix_test.txt").exists()
    assert json.loads((data / "vcmix/corpus.json").read_text())["lists"]["vcmix_test"]["source"] == str(
        root / "vcmix_test.txt"
    )


def test_prepare_voices_dev_and_eval_keys(tmp_path):
    root, data = voices_layout(tmp_path / "VOiCES"), tmp_path / "data"
    _ok("local/prepare_voices.sh", "--nj", "2", str(root), str(data))
    dev = _trials(data, "voices_dev", "voices")
    assert len(dev) == 4 and sum(t[2] for t in dev) == 2
    assert (
        dev[0][0]
        == "voices-sid_dev-sp0011-Lab41-SRI-VOiCES-rm1-none-sp0011-ch000001-sg0001-mc01-stu-clo-dg090"
    )
    # the eval keys name test files without sid_eval/: the same utterance ids as the enrolment list's paths
    assert _trials(data, "voices_eval", "voices") == [
        ("voices-sid_eval-enra", "voices-sid_eval-tsta", True),
        ("voices-sid_eval-enra", "voices-sid_eval-tstb", False),
        ("voices-sid_eval-enrb", "voices-sid_eval-tsta", False),
        ("voices-sid_eval-enrb", "voices-sid_eval-tstb", True),
    ]
    assert len(load_data_dir(data / "voices").utts) == 8


def test_prepare_cnceleb_concatenates_enrolment_utterances(tmp_path):
    root, data = tmp_path / "CN-Celeb_flac", tmp_path / "data"
    enroll_audio = cnceleb_layout(root)
    _ok("local/prepare_cnceleb.sh", "--nj", "2", str(root), str(data))
    trials = _trials(data, "cnceleb1_eval", "cnceleb")
    assert trials == [
        ("cnceleb-id00800-enroll", "cnceleb-eval-test-id00800-singing-02-001", True),
        ("cnceleb-id00800-enroll", "cnceleb-eval-test-id00801-singing-02-001", False),
        ("cnceleb-id00801-enroll", "cnceleb-eval-test-id00800-singing-02-001", False),
        ("cnceleb-id00801-enroll", "cnceleb-eval-test-id00801-singing-02-001", True),
    ]
    wav = read_dict(data / "cnceleb" / "wav.scp")
    for spk, parts in enroll_audio.items():
        entry = wav[f"cnceleb-{spk}-enroll"]
        assert entry.startswith("sox ") and entry.endswith("|")
        # one utterance per speaker: its enrolment files end to end, in enroll.map order
        np.testing.assert_allclose(read_audio(entry), np.concatenate(parts), atol=1e-4)
        assert float(read_dict(data / "cnceleb/utt2dur")[f"cnceleb-{spk}-enroll"]) == pytest.approx(
            0.2 + 0.3 + 0.4
        )
    # the lists say .wav, the distributed audio is .flac
    assert wav["cnceleb-eval-test-id00800-singing-02-001"].endswith("eval/test/id00800-singing-02-001.flac")


def test_prepare_cnceleb_takes_the_distributed_enrolment_files(tmp_path):
    root, data = tmp_path / "CN-Celeb_flac", tmp_path / "data"
    cnceleb_layout(root, with_enroll_files=True)
    prepare_cnceleb(root, data, nj=1)
    wav = read_dict(data / "cnceleb" / "wav.scp")
    assert wav["cnceleb-eval-enroll-id00800-enroll"].endswith("eval/enroll/id00800-enroll.flac")
    prepare_cnceleb(root, data, enroll_from="map", nj=1)
    assert read_dict(data / "cnceleb" / "wav.scp")["cnceleb-id00800-enroll"].startswith("sox ")
    with pytest.raises(PrepError, match="--enroll-from"):
        prepare_cnceleb(root, data, enroll_from="average")


def test_prepare_sitw_core_core(tmp_path):
    root, data = sitw_layout(tmp_path / "sitw"), tmp_path / "data"
    _ok("local/prepare_sitw.sh", "--nj", "2", str(root), str(data))
    for part in ("dev", "eval"):
        assert _trials(data, f"sitw_{part}_core-core", "sitw") == [
            (f"sitw-{part}-audio-aaaaa", f"sitw-{part}-audio-ccccc", True),
            (f"sitw-{part}-audio-aaaaa", f"sitw-{part}-audio-ddddd", False),
            (f"sitw-{part}-audio-bbbbb", f"sitw-{part}-audio-ccccc", False),
            (f"sitw-{part}-audio-bbbbb", f"sitw-{part}-audio-ddddd", True),
        ]


# ---------------------------------------------------------------------------------- formats, bad input
def test_official_five_field_list_with_foreign_absolute_paths(tmp_path):
    root, data = voxsrc23_layout(tmp_path / "voxsrc23"), tmp_path / "data"
    # the official lists name files by the authors' absolute paths: matched by their tail
    official = _lines(
        tmp_path / "voxsrc23_test.txt",
        "1 0 1 /home/someone/VoxSRC2023_test/000000.wav /home/someone/VoxSRC2023_test/000001.wav",
        "0 0 2 /home/someone/VoxSRC2023_test/000000.wav /home/someone/VoxSRC2023_test/000002.wav",
    )
    prepare_voxsrc23(root, data, trial_list=str(official), nj=1)
    assert _trials(data, "voxsrc23_test", "voxsrc23") == [
        ("voxsrc23-000000", "voxsrc23-000001", True),
        ("voxsrc23-000000", "voxsrc23-000002", False),
    ]
    assert (
        json.loads((data / "voxsrc23/corpus.json").read_text())["lists"]["voxsrc23_test"]["format"]
        == "official"
    )


def test_missing_audio_refuses_the_list_and_installs_nothing(tmp_path):
    root, data = voxsrc23_layout(tmp_path / "voxsrc23"), tmp_path / "data"
    prepare_voxsrc23(root, data, nj=1)
    before = {p: p.read_bytes() for p in (data / "voxsrc23").rglob("*") if p.is_file()}
    (root / "VoxSRC2023_test" / "000003.wav").unlink()
    (root / "VoxSRC2023_test" / "000002.wav").unlink()
    proc = _run("local/prepare_voxsrc23.sh", str(root), str(data))
    assert proc.returncode != 0
    assert "2 of 4 audio files named by the list are missing (first, line 2: 000002.wav)" in proc.stderr
    assert {p: p.read_bytes() for p in (data / "voxsrc23").rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in data.iterdir()) == ["voxsrc23"]  # no staging left behind


def test_unknown_list_format_is_named(tmp_path):
    root = voxsrc23_layout(tmp_path / "voxsrc23")
    _lines(root / "VoxSRC2023_test.txt", "000000.wav 000001.wav same")
    with pytest.raises(
        TrialsError, match=r"VoxSRC2023_test.txt:1: unknown trial-list format.*accepted: challenge"
    ):
        prepare_voxsrc23(root, tmp_path / "data", nj=1)
    assert not (tmp_path / "data" / "voxsrc23").exists()


def test_vcmix_needs_its_parts_and_a_cleaned_voxceleb1_list(tmp_path):
    vox1 = vox1_layout(tmp_path / "vox1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrepError, match="neither vcmix_test.txt nor voxconverse_test_SV"):
        prepare_vcmix(tmp_path / "empty", vox1, tmp_path / "data")
    root = voxconverse_layout(tmp_path / "vcmix")
    (vox1 / "veri_test2.txt").rename(vox1 / "veri_test.txt")
    with pytest.raises(TrialsError, match="veri_test2.txt: no such trial list"):
        prepare_vcmix(root, vox1, tmp_path / "data")
    proc = _run("local/prepare_vcmix.sh", str(root), str(tmp_path / "data"))
    assert proc.returncode != 0 and "--vox1-root" in proc.stderr


def test_sitw_and_voices_without_any_keys_are_refused(tmp_path):
    (tmp_path / "x").mkdir()
    for script in ("local/prepare_sitw.sh", "local/prepare_voices.sh"):
        proc = _run(script, str(tmp_path / "x"), str(tmp_path / "data"))
        assert proc.returncode != 0 and "error:" in proc.stderr, script


def test_audio_finder_resolution_and_utterance_ids(tmp_path):
    from ssrfnet.prep.evalsets.builder import AudioFinder

    _audio(tmp_path / "a" / "sub" / "x.flac")
    _audio(tmp_path / "b" / "y.wav")
    finder = AudioFinder("set", [(tmp_path / "a", "ta"), (tmp_path / "b", "")])
    flac = tmp_path / "a" / "sub" / "x.flac"
    for name in ("sub/x.flac", "sub/x.wav", "sub/x", "/elsewhere/root/sub/x.flac"):
        assert finder.path(name) == flac, name
    assert finder.path("y.wav") == tmp_path / "b" / "y.wav"
    assert finder.path("sub/absent.wav") is None
    assert finder.key(flac) == "set-ta-sub-x"
    assert finder.key(tmp_path / "b" / "y.wav") == "set-y"
