"""Synthetic talkers: voice pools, text-to-speech engine calls and the per-session sox channel.

A *speaker* is a fixed (engine, voice, pitch, rate) tuple.  Each utterance jitters pitch and rate a
little; each session (a "video") gets its own sox channel: band limits, an EQ bump, a spectral tilt
and a level.  Everything an utterance needs is decided by the planner in the parent process and
passed here as plain data, so a worker's output depends only on its job, never on scheduling.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field

from ssrfnet.errors import SSRFNetError

# binary -> Debian package that provides it
TOOLS = {
    "espeak-ng": "espeak-ng",
    "flite": "flite",
    "text2wave": "festival festvox-kdlpc16k",
    "sox": "sox",
    "ffmpeg": "ffmpeg",
    "fluidsynth": "fluidsynth timgm6mb-soundfont",
}

ESPEAK_ACCENTS = {
    # espeak-ng voice -> "nationality" written to the metadata
    "en-us": "USA",
    "en-gb": "UK",
    "en-gb-scotland": "Scotland",
    "en-gb-x-rp": "England-RP",
    "en-029": "Caribbean",
    "en-gb-x-gbclan": "England-Lancaster",
    "en-gb-x-gbcwmd": "England-West-Midlands",
    "en-us-nyc": "USA-NYC",
}
# espeak-ng voice variants whose gender is stated in their variant file (or is the male default)
ESPEAK_VARIANTS_M = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Andy", "Lee", "Marco", "Henrique", "Hugo",
    "Denis", "Diogo", "antonio", "michel", "miguel", "sandro", "travis", "victor", "Storm",
)
ESPEAK_VARIANTS_F = (
    "f1", "f2", "f3", "f4", "f5", "Alicia", "Andrea", "Annie", "anika", "aunty", "belinda", "linda",
    "steph", "steph2", "steph3", "grandma",
)
# flite voices: name -> gender; kal (8 kHz) and awb_time (clock times only) are left out
FLITE_VOICES = {"slt": "f", "rms": "m", "awb": "m", "kal16": "m"}
FESTIVAL_VOICES = {"ked": "m"}
SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
)


class MissingToolError(SSRFNetError, RuntimeError):
    pass


def require_tools(names) -> None:
    """Raise a MissingToolError naming the Debian packages for every binary not on PATH."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pkgs = " ".join(sorted({TOOLS.get(n, n) for n in missing}))
        raise MissingToolError(
            f"missing binaries: {', '.join(missing)}; install them with: sudo apt-get install {pkgs}"
        )


def find_soundfont() -> str:
    for path in SOUNDFONT_CANDIDATES:
        if os.path.isfile(path):
            return path
    raise MissingToolError(
        "no General MIDI soundfont found (looked for /usr/share/sounds/sf2/TimGM6mb.sf2); "
        "install it with: sudo apt-get install timgm6mb-soundfont"
    )


@dataclass(frozen=True)
class Voice:
    """A talker: engine + voice name + fixed pitch and rate settings."""

    engine: str  # espeak-ng | flite | festival
    voice: str  # e.g. en-gb-scotland+m3, slt, ked
    gender: str  # m | f
    pitch: float  # espeak: -p 0..99; flite: f0_shift; festival: sox pitch shift in cents
    rate: float  # espeak: words per minute; flite/festival: duration stretch
    nationality: str = ""

    @property
    def timbre(self) -> tuple[str, str]:
        return (self.engine, self.voice)

    @property
    def name(self) -> str:
        """A VGGFace-like display name that spells out the settings."""
        if self.engine == "espeak-ng":
            return f"espeak-ng_{self.voice}_p{int(self.pitch)}_s{int(self.rate)}"
        return f"{self.engine}_{self.voice}_p{self.pitch:g}_r{self.rate:g}"

    def to_dict(self) -> dict:
        return asdict(self)


def espeak_timbres() -> list[tuple[str, str, str]]:
    """All (accent+variant, gender, nationality) espeak-ng timbres, in a fixed order."""
    out = []
    for accent, nat in ESPEAK_ACCENTS.items():
        for var in ESPEAK_VARIANTS_M:
            out.append((f"{accent}+{var}", "m", nat))
        for var in ESPEAK_VARIANTS_F:
            out.append((f"{accent}+{var}", "f", nat))
    return out


def espeak_voice(rng, timbre: tuple[str, str, str]) -> Voice:
    voice, gender, nat = timbre
    pitch = rng.randint(30, 70)
    rate = rng.randint(140, 195)
    return Voice("espeak-ng", voice, gender, float(pitch), float(rate), nat)


def flite_voices(rng) -> list[Voice]:
    """Several speakers per flite voice, told apart by clearly different pitch and rate settings."""
    out = []
    for name, gender in FLITE_VOICES.items():
        # rms ignores f0_shift, so its speakers differ in rate only
        shifts = (1.0,) if name == "rms" else (0.84, 0.94, 1.04, 1.14)
        stretches = (0.9, 1.0, 1.12) if name == "rms" else (None,)
        for sh in shifts:
            for st in stretches:
                stretch = st if st is not None else round(rng.uniform(0.9, 1.1), 2)
                out.append(Voice("flite", name, gender, sh, stretch, f"flite-{name}"))
    return out


def festival_voices() -> list[Voice]:
    return [
        Voice("festival", "ked", "m", 0.0, 1.0, "festival-ked"),
        Voice("festival", "ked", "m", 300.0, 0.92, "festival-ked"),
    ]


@dataclass
class Channel:
    """A session's recording channel, applied with sox."""

    highpass: float
    lowpass: float
    eq: list = field(default_factory=list)  # [(freq, q, gain_db), ...]
    bass: float = 0.0
    treble: float = 0.0
    level_db: float = -3.0

    def effects(self) -> list[str]:
        fx = ["highpass", f"{self.highpass:.0f}", "lowpass", f"{self.lowpass:.0f}"]
        for freq, q, gain in self.eq:
            fx += ["equalizer", f"{freq:.0f}", f"{q:.2f}q", f"{gain:.1f}"]
        if self.bass:
            fx += ["bass", f"{self.bass:.1f}"]
        if self.treble:
            fx += ["treble", f"{self.treble:.1f}"]
        return fx


def random_channel(rng) -> Channel:
    eq = [
        (rng.uniform(300, 3500), rng.uniform(0.7, 2.5), rng.uniform(-8, 8))
        for _ in range(rng.randint(1, 2))
    ]
    return Channel(
        highpass=rng.uniform(60, 300),
        lowpass=rng.uniform(3600, 7800),
        eq=eq,
        bass=rng.uniform(-5, 5),
        treble=rng.uniform(-5, 5),
        level_db=-rng.uniform(1, 9),
    )


def _run(cmd: list[str], **kw) -> None:
    if "input" not in kw:
        kw["stdin"] = subprocess.DEVNULL
    res = subprocess.run(cmd, capture_output=True, **kw)
    if res.returncode != 0:
        err = res.stderr.decode("utf-8", "replace").strip()[-800:]
        raise RuntimeError(f"command failed ({res.returncode}): {' '.join(cmd)[:300]}\n{err}")


def tts(voice: Voice, text: str, out_wav: str, dpitch: float = 0.0, drate: float = 1.0) -> list[str]:
    """Synthesise `text` into out_wav (engine's native rate).

    Returns extra sox effects that complete the voice (festival's pitch is applied by sox).
    dpitch/drate are the per-utterance jitter: an additive pitch offset (espeak units, or a fraction
    of f0 for flite) and a multiplicative rate factor.
    """
    if voice.engine == "espeak-ng":
        pitch = int(round(min(99, max(0, voice.pitch + dpitch))))
        rate = int(round(voice.rate * drate))
        _run(["espeak-ng", "-v", voice.voice, "-p", str(pitch), "-s", str(rate), "-w", out_wav, text])
        return []
    if voice.engine == "flite":
        shift = voice.pitch * (1.0 + dpitch)
        stretch = voice.rate / drate
        _run([
            "flite", "-voice", voice.voice, "--setf", f"f0_shift={shift:.3f}",
            "--setf", f"duration_stretch={stretch:.3f}", "-t", text, "-o", out_wav,
        ])
        return []
    if voice.engine == "festival":
        stretch = voice.rate / drate
        form = f"(begin (voice_{voice.voice}_diphone) (Parameter.set 'Duration_Stretch {stretch:.3f}))"
        _run(["text2wave", "-eval", form, "-o", out_wav], input=text.encode())
        cents = voice.pitch + dpitch * 1000.0
        return ["pitch", f"{cents:.0f}"] if abs(cents) >= 1 else []
    raise ValueError(f"unknown engine {voice.engine}")



def sox_finish(in_wav: str, out_wav: str, pre_fx: list[str], channel: Channel | None,
               max_dur: float | None = None) -> None:
    """Channel, 16 kHz mono 16-bit, silence trim, optional truncation, normalise.

    `-R` makes sox repeatable (fixed dither seed), so the same input gives the same bytes.
    """
    fx = list(pre_fx)
    if channel is not None:
        fx += channel.effects()
    # trim leading silence, then trailing silence via reverse
    fx += ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
    if max_dur is not None:
        fx += ["trim", "0", f"{max_dur:.3f}"]
    fx += ["rate", "16000", "norm", f"{channel.level_db if channel else -3.0:.1f}"]
    _run(["sox", "-R", "-V1", in_wav, "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer",
          out_wav, *fx])


M4A_OPTS = ("-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
            "-c:a", "aac", "-aac_coder", "fast", "-b:a", "48k", "-f", "ipod")


def encode_m4a(pairs: list[tuple[str, str]]) -> None:
    """AAC in an MP4 (m4a) container like VoxCeleb2, several (in_wav, out_path) pairs per ffmpeg call.

    ffmpeg's start-up dominates for short files, so one process encodes a whole batch; the output
    options are repeated per output (they do not carry over) and the bit-exact flags keep the bytes
    reproducible.
    """
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    for in_wav, _ in pairs:
        cmd += ["-i", in_wav]
    for i, (_, out_path) in enumerate(pairs):
        cmd += ["-map", str(i), *M4A_OPTS, out_path]
    _run(cmd)
