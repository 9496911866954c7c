"""What every evaluation-set preparation shares: finding the audio a list names, and writing the data dir.

An evaluation set becomes one Kaldi data directory `<data>/<set>/` holding every utterance its lists name
(wav.scp, utt2spk, spk2utt, utt2dur), one `trials/<list>.kaldi` per list and `corpus.json` (where the audio
and the lists came from, and whether it is the mini corpus; the results table reads it). Speakers of test
audio are unknown for most sets, so utt2spk maps every utterance to itself, as Kaldi's SITW recipe does.

Utterance ids are `<set>-<tag>-<path below the audio root, '/' -> '-', no extension>`, so they are stable,
readable and unique. The directory is built in a staging directory and installed only when complete
(ssrfnet.prep.common), so a failed preparation leaves the previous version, or nothing.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from ssrfnet.fileio import atomic_write_text
from ssrfnet.kaldi.datadir import DataDirError, validate
from ssrfnet.kaldi.trial_lists import TrialList, require_audio, require_files, to_kaldi_trials
from ssrfnet.kaldi.trials import TrialsError, write_trials
from ssrfnet.prep.common import (
    PrepError,
    corpus_kind,
    install_all,
    log,
    num_samples_parallel,
    staging,
    write_data_dir,
)
from ssrfnet.prep.voxceleb import warn_invalid_existing

AUDIO_EXTS = (".wav", ".flac")
CONCAT_PIPE = "sox {files} -t wav -r 16000 -c 1 -b 16 -e signed-integer - |"


@dataclass(frozen=True)
class Utterance:
    """One utterance: an audio file, or several concatenated in order (CN-Celeb enrolment)."""

    key: str
    files: tuple[Path, ...]

    def wav_entry(self) -> str:
        if len(self.files) == 1:
            return str(self.files[0])
        return CONCAT_PIPE.format(files=" ".join(shlex.quote(str(f)) for f in self.files))


@dataclass
class EvalList:
    """A converted list: its name (trials/<name>.kaldi), where it came from, and its Kaldi trials."""

    name: str
    source: str
    format: str
    trials: list[tuple[str, str, bool]]


class AudioFinder:
    """Resolve audio paths as a list writes them against the set's audio roots.

    Tried in order, per root: the path itself below the root; the same with the other audio extension (the
    CN-Celeb_flac lists still say .wav) or, for a name without one, with .wav or .flac added; then shorter
    and shorter tails of it (an absolute path from the machine that wrote an official list, e.g.
    /home/x/VoxSRC2023_test/000123.wav). An existing absolute path is taken as it is.
    """

    def __init__(self, prefix: str, roots: list[tuple[Path, str]]):
        self.prefix = prefix
        self.roots = [(Path(root).absolute(), tag) for root, tag in roots]
        self._cache: dict[str, Path | None] = {}

    def _candidates(self, name: str):
        rel = Path(name)
        parts = rel.parts[1:] if rel.is_absolute() else rel.parts
        for root, _ in self.roots:
            for start in range(len(parts)):
                tail = Path(*parts[start:])
                yield root / tail
                suffix = tail.suffix.lower()
                for ext in AUDIO_EXTS:
                    if suffix not in AUDIO_EXTS:  # a name without its extension
                        yield root / tail.parent / (tail.name + ext)
                    elif ext != suffix:
                        yield root / tail.with_suffix(ext)

    def path(self, name: str) -> Path | None:
        if name not in self._cache:
            direct = Path(name)
            found = direct.absolute() if direct.is_absolute() and direct.is_file() else None
            if found is None:
                found = next((c for c in self._candidates(name) if c.is_file()), None)
            self._cache[name] = found
        return self._cache[name]

    def key(self, path: Path) -> str:
        """The utterance id of an audio file (see the module docstring)."""
        for root, root_tag in self.roots:
            if path.is_relative_to(root):
                tag, rel = root_tag, path.relative_to(root)
                break
        else:
            tag, rel = "abs", Path(*path.parts[1:])
        stem = "".join("_" if c.isspace() else c for c in str(rel.with_suffix("")).replace("/", "-"))
        return "-".join(part for part in (self.prefix, tag, stem) if part)


@dataclass
class EvalSet:
    """An evaluation set being assembled: its utterances and converted lists."""

    name: str
    title: str
    root: Path
    utterances: dict[str, Utterance] = field(default_factory=dict)
    lists: list[EvalList] = field(default_factory=list)
    extra_files: dict[str, str] = field(default_factory=dict)  # written into the data dir as they are

    def add(self, utt: Utterance) -> str:
        old = self.utterances.setdefault(utt.key, utt)
        if old.files != utt.files:
            raise PrepError(
                f"utterance id {utt.key!r} would name both {old.files[0]} and {utt.files[0]}; "
                "rename one of them"
            )
        return utt.key

    def add_files(self, trial_list: TrialList, finder: AudioFinder, sides: str = "both") -> dict[str, str]:
        """Utterances for every audio path of the list's `sides`; returns {path as written: utterance id}."""
        found = require_audio(trial_list, finder.path, sides=sides)
        return {name: self.add(Utterance(finder.key(path), (path,))) for name, path in found.items()}

    def add_enrollments(self, trial_list: TrialList, enroll_list: Path, finder: AudioFinder, *,
                        concat: bool = False) -> dict[str, str]:
        """Utterances for the enrolment models the trials name, from an enrolment list (read_enroll_list).

        With `concat` a model's files become one utterance, their concatenation in list order, keyed by the
        model id (CN-Celeb's protocol); otherwise a model must have exactly one file. Returns {model: id}.
        """
        models = read_enroll_list(enroll_list)
        used: dict[str, int] = {}
        for row in trial_list.rows:
            used.setdefault(row.enroll, row.lineno)
        unknown = [(m, line) for m, line in used.items() if m not in models]
        if unknown:
            raise TrialsError(
                f"{trial_list.path}: {len(unknown)} enrolment models are not in {enroll_list} "
                f"(first, line {unknown[0][1]}: {unknown[0][0]})"
            )
        named = [(f, models[m][1]) for m in used for f in models[m][0]]
        found = require_files(enroll_list, named, finder.path)
        keys = {}
        for model in used:
            files, lineno = models[model]
            if concat:
                keys[model] = self.add(Utterance(f"{self.name}-{model}", tuple(found[f] for f in files)))
            elif len(files) == 1:
                keys[model] = self.add(Utterance(finder.key(found[files[0]]), (found[files[0]],)))
            else:
                raise TrialsError(
                    f"{enroll_list}:{lineno}: model {model!r} has {len(files)} enrolment files, expected one"
                )
        return keys

    def add_list(self, name: str, trial_list: TrialList, enroll_keys: dict[str, str],
                 test_keys: dict[str, str] | None = None, source: str | None = None) -> EvalList:
        trials = to_kaldi_trials(trial_list, enroll_keys, test_keys)
        converted = EvalList(name, source or str(trial_list.path), trial_list.format, trials)
        self.lists.append(converted)
        targets = sum(t[2] for t in trials)
        log(f"{converted.source} ({trial_list.format}) -> trials/{name}.kaldi: {len(trials)} trials, "
            f"{targets} target, {len(trials) - targets} non-target")
        return converted


def read_enroll_list(path: Path) -> dict[str, tuple[list[str], int]]:
    """`<model> <audio> [<audio> ...]` lines (SITW enroll-core.lst, VOiCES *-enroll.lst, CN-Celeb enroll.lst
    and enroll.map) -> {model: ([audio, ...], line)}; a model listed twice is an error."""
    if not path.is_file():
        raise TrialsError(f"{path}: no such enrolment list")
    models: dict[str, tuple[list[str], int]] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if len(fields) < 2:
                raise TrialsError(
                    f"{path}:{lineno}: expected '<model> <audio> [<audio> ...]', got {line.strip()!r}"
                )
            if fields[0] in models:
                raise TrialsError(f"{path}:{lineno}: model {fields[0]!r} already listed on line "
                                  f"{models[fields[0]][1]}")
            models[fields[0]] = (fields[1:], lineno)
    if not models:
        raise TrialsError(f"{path}: no enrolment models")
    return models


def corpus_info(evalset: EvalSet) -> dict:
    return {
        "set": evalset.name,
        "title": evalset.title,
        "corpus": corpus_kind(evalset.root),
        "root": str(evalset.root.absolute()),
        "lists": {
            lst.name: {"source": lst.source, "format": lst.format, "trials": len(lst.trials),
                       "targets": sum(t[2] for t in lst.trials)}
            for lst in evalset.lists
        },
    }


def write_eval_set(evalset: EvalSet, data_root: str | Path, nj: int) -> Path:
    """Write and install `<data_root>/<set>/` (see the module docstring); returns its path."""
    data_root = Path(data_root)
    if not evalset.lists:
        raise PrepError(f"{evalset.root}: no trial list was prepared for {evalset.title}")
    names = {lst.name for lst in evalset.lists}
    if len(names) != len(evalset.lists):
        raise PrepError(f"{evalset.title}: two lists would both be written as the same trials file")
    warn_invalid_existing(data_root, [evalset.name])
    utts = evalset.utterances
    wav = {key: utts[key].wav_entry() for key in sorted(utts)}
    jobs = [(key, wav[key], f"utterance {key} ({utts[key].files[0]})") for key in wav]
    with staging(data_root, f"prepare_{evalset.name}") as stage:
        out = stage / evalset.name
        write_data_dir(out, wav, {key: key for key in wav}, num_samples_parallel(jobs, nj))
        for lst in evalset.lists:
            write_trials(out / "trials" / f"{lst.name}.kaldi", lst.trials)
        info = json.dumps(corpus_info(evalset), indent=1, sort_keys=True) + "\n"
        atomic_write_text(out / "corpus.json", info)
        for rel, text in evalset.extra_files.items():
            atomic_write_text(out / rel, text)
        try:
            validate(out, require_spk_prefix=True, quiet=True)
        except DataDirError as err:
            raise PrepError(f"internal error, produced an invalid data dir: {err}") from None
        install_all(stage, data_root, [evalset.name])
    log(f"{data_root / evalset.name}: {len(wav)} utterances, lists "
        + ", ".join(f"{lst.name} ({len(lst.trials)})" for lst in evalset.lists))
    return data_root / evalset.name


def find_file(root: Path, names: tuple[str, ...], *, max_depth: int = 4) -> Path | None:
    """The first of `names` found in `root` or below it (breadth first, at most `max_depth` levels down),
    skipping directories that hold audio (so a search never walks a whole corpus)."""
    level = [root]
    for _ in range(max_depth + 1):
        for name in names:
            for directory in level:
                if (directory / name).is_file():
                    return directory / name
        nxt = []
        for directory in level:
            try:
                children = sorted(p for p in directory.iterdir() if p.is_dir())
            except OSError:
                continue
            nxt.extend(c for c in children if not _holds_audio(c))
        level = nxt
    return None


def _holds_audio(directory: Path) -> bool:
    try:
        return any(p.suffix.lower() in AUDIO_EXTS for p in list(directory.iterdir())[:50])
    except OSError:
        return False


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise PrepError(f"{path}: no such {what} directory")
    return path
