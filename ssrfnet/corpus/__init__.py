"""Embedded mini corpus: synthetic stand-ins for VoxCeleb1/2, MUSAN and RIRS_NOISES, and for the evaluation
sets VoxSRC-23, VCMix (VoxConverse), VOiCES, CN-Celeb1 and SITW (same layouts as the real ones).

    from ssrfnet.corpus import make_mini_corpus
    info = make_mini_corpus("corpora", size="tiny", seed=1234, nj=2)
    info["voxceleb1_wav"], info["trials"]["O"], info["musan"], info["rirs_noises"], info["evalsets"]["vcmix"]
"""

from ssrfnet.corpus.build import (
    SIZES,
    CorpusMismatchError,
    make_mini_corpus,
    plan_corpus,
    planned_files,
    resolve_params,
)
from ssrfnet.corpus.voices import MissingToolError, require_tools

__all__ = [
    "SIZES",
    "CorpusMismatchError",
    "MissingToolError",
    "make_mini_corpus",
    "plan_corpus",
    "planned_files",
    "require_tools",
    "resolve_params",
]
