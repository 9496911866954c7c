"""Synthesise the embedded mini corpus (VoxCeleb1/2-, MUSAN- and RIRS_NOISES-like) for offline runs.

e.g.: python -m ssrfnet.bin.make_mini_corpus --size default --seed 1234 --nj 2 corpora
"""

from __future__ import annotations

import json
import logging
import sys

from ssrfnet import cli
from ssrfnet.corpus.build import SIZES, make_mini_corpus

SIZE_FLAGS = {
    "num_train_speakers": "training (VoxCeleb2-like) speakers",
    "utts_per_speaker": "utterances per training speaker",
    "sessions_per_speaker": "sessions (videos) per training speaker",
    "num_test_speakers": "test (VoxCeleb1-like) speakers",
    "test_utts_per_speaker": "utterances per test speaker",
    "test_sessions_per_speaker": "sessions per test speaker",
    "num_trials": "trials in the E and H lists (the O list gets half)",
    "num_rirs": "simulated RIRs (spread over small/medium/large rooms)",
    "rirs_per_room": "RIRs per simulated room",
    "num_music": "MUSAN-like music clips",
    "music_seconds": "maximum music clip length in seconds",
    "num_noise": "MUSAN-like noise clips",
    "noise_seconds": "maximum noise clip length in seconds",
    "num_babble_talkers": "MUSAN-like speech files (one TTS talker each, for babble)",
    "babble_sentences": "sentences per speech file",
    "evalset_speakers": "stand-in speakers per evaluation set (VoxSRC-23, VCMix, ...; 0: no stand-ins)",
    "evalset_utts": "utterances per stand-in speaker and role",
}


def build_parser():
    sizes = "; ".join(
        f"{name}: {p['num_train_speakers']}x{p['utts_per_speaker']} train, "
        f"{p['num_test_speakers']}x{p['test_utts_per_speaker']} test, {p['num_trials']} trials, "
        f"{p['num_rirs']} RIRs"
        for name, p in SIZES.items()
    )
    ap = cli.new_parser("make_mini_corpus", __doc__ + f"\nPresets: {sizes}.", runtime=False)
    ap.add_argument("root", help="output root (gets voxceleb1/ voxceleb2/ musan/ RIRS_NOISES/)")
    ap.add_argument("--size", choices=sorted(SIZES), default="default", help="size preset")
    ap.add_argument("--seed", type=int, default=1234, help="everything is derived from this seed")
    ap.add_argument("--nj", type=int, default=None, help="parallel jobs (default: number of CPUs)")
    ap.add_argument("--vox2-format", choices=("m4a", "wav"), default=None,
                    help="format of the VoxCeleb2-like training audio (default m4a, AAC like the real one)")
    ap.add_argument("--short-frac", type=float, default=None,
                    help="fraction of training utterances cut below 3 s (default 0.06)")
    ap.add_argument("--force", action="store_true",
                    help="delete an existing, different corpus under root and regenerate")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    for name, desc in SIZE_FLAGS.items():
        kind = float if name.endswith("seconds") else int
        ap.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                        help=f"{desc} (overrides the preset)")
    return ap


def run(args) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    overrides = {name: getattr(args, name) for name in SIZE_FLAGS}
    overrides["vox2_format"] = args.vox2_format
    overrides["short_frac"] = args.short_frac
    info = make_mini_corpus(args.root, size=args.size, seed=args.seed, nj=args.nj, force=args.force,
                            progress=not args.no_progress, **overrides)
    if info["noop"]:
        logging.info("%s is already complete with these parameters; nothing to do", info["root"])
    else:
        logging.info("mini corpus (%s, seed %d) written to %s in %.1f s", args.size, args.seed, info["root"],
                     info["seconds"])
    print(json.dumps({k: v for k, v in info.items() if k != "params"}, indent=1))
    return 0


main = cli.main_of("make_mini_corpus", build_parser, run, memory=True)

if __name__ == "__main__":
    sys.exit(main())
