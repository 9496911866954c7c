"""RIRS_NOISES stand-in: simulated room impulse responses from pyroomacoustics' image-source model.

Layout like the real corpus: RIRS_NOISES/simulated_rirs/{smallroom,mediumroom,largeroom}/RoomNNN/
RoomNNN-000NN.wav (16 kHz mono) and a `rir_list` per room type with lines
`--rir-id smallroom-Room001-00001 --room-id smallroom-Room001 RIRS_NOISES/simulated_rirs/...wav`.
The reflection order is not capped: capping it cuts the reverberant tail.
"""

from __future__ import annotations

import random

import numpy as np

SR = 16000
ROOM_TYPES = {
    # type: (side length range in metres, RT60 range in seconds)
    "smallroom": ((3.0, 5.0), (0.2, 0.6)),
    "mediumroom": ((5.0, 10.0), (0.3, 0.9)),
    "largeroom": ((10.0, 20.0), (0.5, 1.2)),
}
BASE = "RIRS_NOISES/simulated_rirs"


def plan_rirs(rng: random.Random, num_rirs: int, rirs_per_room: int) -> list[dict]:
    """One job per room; RIRs are spread round-robin over the three room types."""
    per_type = {t: num_rirs // 3 + (i < num_rirs % 3) for i, t in enumerate(ROOM_TYPES)}
    jobs = []
    for rtype, n in per_type.items():
        (lo, hi), (t_lo, t_hi) = ROOM_TYPES[rtype]
        room = 0
        while n > 0:
            room += 1
            k = min(rirs_per_room, n)
            n -= k
            dims = [round(rng.uniform(lo, hi), 2), round(rng.uniform(lo, hi), 2),
                    round(rng.uniform(2.4, min(hi / 2, 6.0) if hi > 5 else 3.0), 2)]
            rt60 = round(rng.uniform(t_lo, t_hi), 3)
            pairs = []
            for _ in range(k):
                src = [round(rng.uniform(0.5, d - 0.5), 2) for d in dims]
                mic = [round(rng.uniform(0.5, d - 0.5), 2) for d in dims]
                pairs.append((src, mic))
            name = f"Room{room:03d}"
            outs = [f"{BASE}/{rtype}/{name}/{name}-{i + 1:05d}.wav" for i in range(k)]
            jobs.append({"kind": "rir", "out": outs[0], "outs": outs, "room_type": rtype, "room": name,
                         "dims": dims, "rt60": rt60, "pairs": pairs})
    return jobs


def simulate_room(job: dict) -> list[np.ndarray]:
    """All RIRs of one room, each normalised to a peak of 0.9 and cut where the tail has died out."""
    import pyroomacoustics as pra

    dims = job["dims"]
    rt60 = job["rt60"]
    try:
        absorption, max_order = pra.inverse_sabine(rt60, dims)
    except ValueError:  # RT60 too short for the room: use the most absorbent walls possible
        absorption, max_order = 0.99, 3
    out = []
    for src, mic in job["pairs"]:
        room = pra.ShoeBox(dims, fs=SR, materials=pra.Material(absorption), max_order=max_order)
        room.add_source(src)
        room.add_microphone(np.array(mic))
        room.compute_rir()
        h = np.asarray(room.rir[0][0], dtype=np.float64)
        # cut 60 dB below the peak energy decay (Schroeder integral), but keep at least RT60 seconds
        edc = np.cumsum(h[::-1] ** 2)[::-1]
        edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
        below = np.nonzero(edc_db < -60)[0]
        end = max(int(below[0]) if below.size else len(h), int(rt60 * SR))
        h = h[:min(end, len(h))]
        out.append((0.9 * h / (np.max(np.abs(h)) or 1.0)).astype(np.float32))
    return out


def rir_lists(jobs: list[dict]) -> dict[str, str]:
    """rir_list (one per room type) and a room_info file with each room's geometry and RT60."""
    lists: dict[str, list[str]] = {}
    info: dict[str, list[str]] = {}
    for j in jobs:
        if j["kind"] != "rir":
            continue
        rtype = j["room_type"]
        room_id = f"{rtype}-{j['room']}"
        for path in j["outs"]:
            rir_id = f"{rtype}-{path.rsplit('/', 1)[1][:-4]}"
            lists.setdefault(rtype, []).append(f"--rir-id {rir_id} --room-id {room_id} {path}")
        info.setdefault(rtype, []).append(
            f"--room-id {room_id} --room-size {' '.join(f'{d:g}' for d in j['dims'])} --rt60 {j['rt60']:g}"
        )
    out = {}
    for rtype, lines in lists.items():
        out[f"{BASE}/{rtype}/rir_list"] = "\n".join(lines) + "\n"
        out[f"{BASE}/{rtype}/room_info"] = "\n".join(info[rtype]) + "\n"
    return out
