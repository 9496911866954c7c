"""MUSAN stand-ins: synthetic noise clips, General MIDI songs rendered with fluidsynth, TTS babble.

Layout (like the real corpus): musan/{noise,music,speech}/<source>/<type>-<source>-NNNN.wav, 16 kHz
mono 16-bit, plus an ANNOTATIONS file per source.  Babble speech jobs are planned in vox.py because
they share the voice pool (their talkers never appear in the speaker-verification sets).
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import tempfile

import numpy as np

SR = 16000
NOISE_SOURCE = "synthetic"
MUSIC_SOURCE = "midi-gm"
SPEECH_SOURCE = "tts-babble"
NOISE_KINDS = ("coloured", "hum", "band", "clicks", "chirp")


# ------------------------------------------------------------------------------------------ noise
def _coloured(rng: np.random.Generator, n: int, beta: float) -> np.ndarray:
    """1/f^beta noise by shaping white noise in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    spec *= f ** (-beta / 2)
    return np.fft.irfft(spec, n)


def synth_noise(kind: str, seconds: float, seed: int) -> np.ndarray:
    """One noise clip of the given kind; the same (kind, seconds, seed) always gives the same samples."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    if kind == "coloured":
        x = _coloured(rng, n, rng.uniform(0.0, 2.0))
    elif kind == "hum":
        f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.995, 1.005)
        x = np.zeros(n)
        for h in range(1, rng.integers(4, 12)):
            x += rng.uniform(0.1, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
        x += 0.05 * _coloured(rng, n, 1.0) / 50
    elif kind == "band":
        lo = rng.uniform(100, 3000)
        hi = min(lo * rng.uniform(1.3, 4.0), 7800)
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / SR)
        spec[(f < lo) | (f > hi)] = 0
        x = np.fft.irfft(spec, n)
        # slow amplitude modulation, like machinery or traffic
        x *= 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 2.0) * t)
    elif kind == "clicks":
        x = 0.01 * rng.standard_normal(n)
        n_clicks = int(seconds * rng.uniform(1, 12))
        tau = int(SR * rng.uniform(0.002, 0.03))
        decay = np.exp(-np.arange(tau) / (tau / 5)) * rng.standard_normal(tau)
        for pos in rng.integers(0, max(1, n - tau), n_clicks):
            x[pos:pos + tau] += rng.uniform(0.3, 1.0) * decay
    elif kind == "chirp":
        f_a, f_b = rng.uniform(100, 1000), rng.uniform(1000, 6000)
        period = rng.uniform(0.3, 3.0)
        phase_t = np.mod(t, period) / period
        freq = f_a * (f_b / f_a) ** phase_t
        x = np.sin(2 * np.pi * np.cumsum(freq) / SR) + 0.02 * rng.standard_normal(n)
    else:
        raise ValueError(f"unknown noise kind {kind}")
    # short fades so clips start and stop without a click
    fade = min(n // 4, int(0.02 * SR))
    if fade:
        ramp = np.linspace(0, 1, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    peak = np.max(np.abs(x)) or 1.0
    return (x / peak * 10 ** (-rng.uniform(1, 10) / 20)).astype(np.float32)


# ------------------------------------------------------------------------------------------ music
def _varlen(v: int) -> bytes:
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    return bytes(reversed(out))


def _track(events: list[tuple[int, int, bytes]]) -> bytes:
    """events: (tick, order, message); order 0 sorts note-offs before note-ons at the same tick."""
    body = bytearray()
    last = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        body += _varlen(tick - last) + msg
        last = tick
    body += _varlen(0) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def _note(events, ch: int, tick: int, dur: int, key: int, vel: int) -> None:
    key = max(0, min(127, key))
    events.append((tick, 1, bytes([0x90 | ch, key, vel])))
    events.append((tick + dur, 0, bytes([0x80 | ch, key, 0])))


MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = ((0, 4, 5, 3), (0, 3, 4, 4), (0, 5, 3, 4), (0, 3, 0, 4), (5, 3, 0, 4), (0, 0, 3, 4))
CHORD_PROGRAMS = (0, 1, 4, 5, 16, 19, 24, 25, 48, 49, 50, 88, 89)
BASS_PROGRAMS = (32, 33, 34, 35, 38, 39, 43)
LEAD_PROGRAMS = (0, 11, 12, 22, 40, 41, 56, 60, 65, 68, 71, 73, 80, 81)


def make_song(seed: int, seconds: float) -> tuple[bytes, dict]:
    """A random General MIDI song (SMF format 1): tempo, chord progression, bass, melody, maybe drums."""
    rng = random.Random(seed)
    ppq = 480
    bpm = rng.randint(66, 150)
    root = rng.randint(45, 57)
    scale = rng.choice((MAJOR, MINOR))
    prog = rng.choice(PROGRESSIONS)
    bars = max(1, int(np.ceil(seconds * bpm / 60 / 4)))
    bar = 4 * ppq
    programs = {0: rng.choice(CHORD_PROGRAMS), 1: rng.choice(BASS_PROGRAMS), 2: rng.choice(LEAD_PROGRAMS)}
    with_drums = rng.random() < 0.7
    conductor = [(0, 0, b"\xff\x51\x03" + (60_000_000 // bpm).to_bytes(3, "big")),
                 (0, 0, b"\xff\x58\x04\x04\x02\x18\x08")]
    tracks = [_track(conductor)]
    chords, bass, lead, drums = [], [], [], []
    for ch, pg in programs.items():
        for ev in (chords, bass, lead)[ch:ch + 1]:
            ev.append((0, 0, bytes([0xC0 | ch, pg])))
    arpeggio = rng.random() < 0.4
    degree = rng.randrange(7)
    for b in range(bars):
        step = prog[b % len(prog)]
        t0 = b * bar
        triad = [root + 12 + scale[(step + k) % 7] + 12 * ((step + k) // 7) for k in (0, 2, 4)]
        if arpeggio:
            for i in range(8):
                _note(chords, 0, t0 + i * ppq // 2, ppq // 2, triad[i % 3] + 12 * (i // 6), 70)
        else:
            for k in triad:
                _note(chords, 0, t0, bar - 10, k, 64)
        for beat in range(4):
            key = root - 12 + scale[step % 7] + (7 if beat % 2 and rng.random() < 0.5 else 0)
            _note(bass, 1, t0 + beat * ppq, ppq - 20, key, 90)
        t = 0
        while t < bar:
            dur = rng.choice((ppq // 2, ppq // 2, ppq, ppq, 2 * ppq))
            dur = min(dur, bar - t)
            degree = max(0, min(13, degree + rng.choice((-2, -1, -1, 0, 1, 1, 2))))
            if rng.random() < 0.85:
                key = root + 24 + scale[degree % 7] + 12 * (degree // 7)
                _note(lead, 2, t0 + t, dur - 10, key, rng.randint(70, 105))
            t += dur
        if with_drums:
            for i in range(8):
                _note(drums, 9, t0 + i * ppq // 2, ppq // 4, 42, 60)
            for beat in (0, 2):
                _note(drums, 9, t0 + beat * ppq, ppq // 4, 36, 100)
            for beat in (1, 3):
                _note(drums, 9, t0 + beat * ppq, ppq // 4, 38, 90)
    for ev in (chords, bass, lead, drums):
        if ev:
            tracks.append(_track(ev))
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), ppq)
    info = {"bpm": bpm, "programs": programs, "drums": with_drums, "bars": bars}
    return header + b"".join(tracks), info


def render_song(midi: bytes, out_wav: str, seconds: float, soundfont: str, tmpdir: str) -> None:
    """fluidsynth renders the MIDI; sox makes it 16 kHz mono, cuts it to length and normalises."""
    fd, mid = tempfile.mkstemp(suffix=".mid", dir=tmpdir)
    with os.fdopen(fd, "wb") as f:
        f.write(midi)
    raw = mid[:-4] + ".raw.wav"
    cmd = ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(SR), "-F", raw, soundfont, mid]
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    if res.returncode != 0 or not os.path.exists(raw):
        raise RuntimeError(f"fluidsynth failed: {res.stderr.decode('utf-8', 'replace')[-500:]}")
    res = subprocess.run(["sox", "-R", "-V1", raw, "-r", str(SR), "-c", "1", "-b", "16", out_wav,
                          "trim", "0", f"{seconds:.2f}", "fade", "t", "0.01", "-0", "0.3", "norm", "-2"],
                         stdin=subprocess.DEVNULL, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError(f"sox failed: {res.stderr.decode('utf-8', 'replace')[-500:]}")
    os.unlink(mid)
    os.unlink(raw)


# ------------------------------------------------------------------------------------------- plan
def plan_musan(rng: random.Random, p: dict) -> list[dict]:
    jobs = []
    for i in range(p["num_noise"]):
        kind = NOISE_KINDS[i % len(NOISE_KINDS)] if i < len(NOISE_KINDS) else rng.choice(NOISE_KINDS)
        jobs.append({"kind": "noise", "out": f"musan/noise/{NOISE_SOURCE}/noise-{NOISE_SOURCE}-{i:04d}.wav",
                     "noise": kind, "seconds": round(rng.uniform(0.5, 1.0) * p["noise_seconds"], 2),
                     "seed": rng.getrandbits(32)})
    for i in range(p["num_music"]):
        jobs.append({"kind": "music", "out": f"musan/music/{MUSIC_SOURCE}/music-{MUSIC_SOURCE}-{i:04d}.wav",
                     "seconds": round(rng.uniform(0.7, 1.0) * p["music_seconds"], 2),
                     "seed": rng.getrandbits(32)})
    return jobs


def annotations(jobs: list[dict], babble_speakers) -> dict[str, str]:
    """ANNOTATIONS files in the spirit of MUSAN's (one per source)."""
    out = {}
    noise = [j for j in jobs if j["kind"] == "noise"]
    if noise:
        lines = [f"{os.path.basename(j['out'])[:-4]} {j['noise']}" for j in noise]
        out[f"musan/noise/{NOISE_SOURCE}/ANNOTATIONS"] = "\n".join(lines) + "\n"
    music = [j for j in jobs if j["kind"] == "music"]
    if music:
        lines = [f"{os.path.basename(j['out'])[:-4]} synthetic-midi N generated" for j in music]
        out[f"musan/music/{MUSIC_SOURCE}/ANNOTATIONS"] = "\n".join(lines) + "\n"
    if babble_speakers:
        lines = [f"speech-{SPEECH_SOURCE}-{i:04d} {s.voice.gender} english"
                 for i, s in enumerate(babble_speakers)]
        out[f"musan/speech/{SPEECH_SOURCE}/ANNOTATIONS"] = "\n".join(lines) + "\n"
    return out
