"""What the tests share: repository paths, the tiny model configuration, and a synthetic data-dir builder.

pytest puts tests/ on sys.path (`pythonpath` in pyproject.toml), so every test module, tests/e2e included,
imports these with `from helpers import ...`; fixtures built on them live in tests/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs" / "voxceleb"
CONF_DIR = RECIPE / "conf"
UTILS = REPO / "utils"
FIXTURES = REPO.parent / "shared" / "fixtures"

# A small SSRFNet (SV-Mixer 5 x 128, backend F=16 C=8 with four one-block stages): builds and runs in
# well under a second, keeps every part of the full model (CNN, PFM windows, 2-D and 1-D blocks, head).
TINY_MODEL = dict(svmixer_layers=5, svmixer_hidden=128, svmixer_cnn_channels=16, redimnet_freq=16,
                  redimnet_channels=8, redimnet_stages="1:1:1:16,2:1:1:16,1:1:1:8,2:1:1:8")
TINY_MODEL_ARGS = [f"--{key.replace('_', '-')}={value}" for key, value in TINY_MODEL.items()]
# A small plain ReDimNet (any input length): F=16, C=8, two stages.
TINY_REDIMNET = dict(model_type="redimnet", redimnet_freq=16, redimnet_channels=8,
                     redimnet_stages="1:1:1:4,2:1:1:4")


def make_data_dir(root: Path, num_spk: int = 3, per_spk: int = 4, seconds=(1.0, 4.0), pipe_every: int = 0,
                  seed: int = 0, sr: int = 16000) -> Path:
    """A small Kaldi data dir `<root>/data` of synthetic wavs (`<root>/audio`); returns its path.

    Each signal is a recognisable ramp (so crops can be located in the original) offset per speaker;
    every `pipe_every`-th entry is written as a `cat <file> |` pipe."""
    rng = np.random.default_rng(seed)
    data, audio = root / "data", root / "audio"
    data.mkdir(parents=True, exist_ok=True)
    audio.mkdir(parents=True, exist_ok=True)
    wav, utt2spk = [], []
    for s in range(num_spk):
        spk = f"spk{s:02d}"
        for u in range(per_spk):
            utt = f"{spk}-utt{u:02d}"
            length = int(rng.uniform(*seconds) * sr)
            x = (np.arange(length) % 9973).astype(np.float32) / 20000.0 + 0.01 * s
            path = audio / f"{utt}.wav"
            sf.write(path, x, sr, subtype="FLOAT")
            n = len(wav)
            wav.append((utt, f"cat {path} |" if pipe_every and n % pipe_every == 0 else str(path)))
            utt2spk.append((utt, spk))
    (data / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in sorted(wav)))
    (data / "utt2spk").write_text("".join(f"{k} {v}\n" for k, v in sorted(utt2spk)))
    spk2utt: dict[str, list[str]] = {}
    for utt, spk in sorted(utt2spk):
        spk2utt.setdefault(spk, []).append(utt)
    (data / "spk2utt").write_text("".join(f"{k} {' '.join(v)}\n" for k, v in sorted(spk2utt.items())))
    return data


def all_pairs_trials(data: Path, out: Path) -> Path:
    """Every utterance pair of a data dir as Kaldi trials (target when the speaker prefix matches)."""
    utts = [line.split()[0] for line in (data / "utt2spk").read_text().splitlines()]
    out.write_text("".join(f"{a} {b} {'target' if a[:5] == b[:5] else 'nontarget'}\n"
                           for i, a in enumerate(utts) for b in utts[i + 1:]))
    return out


def tree_hashes(*roots: Path) -> dict[str, str]:
    """{path: sha256} of every file under `roots` (files or directories): compare before and after a failing
    run to show that it left earlier results byte-identical."""
    import hashlib

    out = {}
    for root in map(Path, roots):
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
