"""Sentences for the synthetic talkers, taken from the Debian `fortunes` databases.

Only plain sentences survive the filter: 7-18 words, ASCII letters and light punctuation, no quotes
from dialogues, no verse or ASCII art.  The result is sorted and de-duplicated, so the pool (and every
choice made from it with a seeded RNG) is the same on every machine with the same fortunes package.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

FORTUNE_DIRS = ("/usr/share/games/fortunes", "/usr/share/fortunes")
MIN_WORDS = 7
MAX_WORDS = 18

# A usable sentence: starts with a capital letter, only simple characters, ends with . ! or ?
_SENTENCE_OK = re.compile(r"^[A-Z][A-Za-z ,;'\-]*[A-Za-z][.!?]$")
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")

# Small built-in pool so unit tests of the planner work even where fortunes is missing.
FALLBACK_SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "A journey of a thousand miles begins with a single careful step.",
    "Every morning the old baker opens his shop before the sun rises.",
    "We spent the whole afternoon walking along the quiet sandy beach.",
    "She told me that the train would leave at exactly seven tonight.",
    "Nobody in the village remembered who had planted the tall oak tree.",
    "The children laughed when the little dog chased its own tail again.",
    "Please remember to close the window before you leave the office.",
    "My grandfather used to repair clocks in a tiny workshop downtown.",
    "The meeting was postponed because half of the team was still travelling.",
    "Rain fell softly on the roof while we read our books by the fire.",
    "He always said that good coffee is the secret of a happy morning.",
)


def fortune_files() -> list[Path]:
    """The plain-text fortune databases (not the .dat indices, not the offensive sub-directory)."""
    for base in FORTUNE_DIRS:
        path = Path(base)
        if path.is_dir():
            return sorted(p for p in path.iterdir() if p.is_file() and "." not in p.name)
    return []


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def sentences_from_text(text: str) -> list[str]:
    """Split a fortune database ('%'-separated records) into acceptable sentences."""
    out: list[str] = []
    for record in re.split(r"^%\s*$", text, flags=re.M):
        lines = [ln for ln in record.splitlines() if ln.strip()]
        # attributions ("-- Mark Twain") and indented verse/art are dropped with their record line
        lines = [ln for ln in lines if not ln.lstrip().startswith("--") and not ln.startswith(("  ", "\t"))]
        if not lines:
            continue
        for sent in _SPLIT.split(_clean(" ".join(lines))):
            if not _SENTENCE_OK.match(sent):
                continue
            if "--" in sent or "  " in sent:
                continue
            words = sent.split()
            if MIN_WORDS <= len(words) <= MAX_WORDS and all(len(w) <= 16 for w in words):
                out.append(sent)
    return out


@functools.lru_cache(maxsize=1)
def load_sentences() -> tuple[str, ...]:
    """All usable sentences, sorted and unique; the fallback pool if fortunes is not installed."""
    found: set[str] = set()
    for path in fortune_files():
        try:
            text = path.read_text(encoding="latin-1")
        except OSError:
            continue
        found.update(sentences_from_text(text))
    if len(found) < 50:
        found.update(FALLBACK_SENTENCES)
    return tuple(sorted(found))


def sentence_source() -> str:
    """A short description of where the sentences come from (for the stamp file)."""
    files = fortune_files()
    return f"fortunes:{len(files)} files" if files else "builtin"


if __name__ == "__main__":  # pragma: no cover - manual inspection
    pool = load_sentences()
    print(len(pool), os.linesep.join(pool[:5]))
