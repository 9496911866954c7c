"""Stage 0: the evaluation sets beyond VoxCeleb1, each as a Kaldi data dir with its trial lists.

    voxsrc23  VoxSRC-23 test                    data/voxsrc23/trials/voxsrc23_test.kaldi
    vcmix     VCMix (VoxConverse + VoxCeleb1-O)  data/vcmix/trials/vcmix_test.kaldi
    voices    VOiCES 2019 dev and eval           data/voices/trials/voices_{dev,eval}.kaldi
    cnceleb   CN-Celeb1 eval                     data/cnceleb/trials/cnceleb1_eval.kaldi
    sitw      SITW core-core dev and eval        data/sitw/trials/sitw_{dev,eval}_core-core.kaldi

Each module documents its set's layout as distributed; ssrfnet.prep.evalsets.builder holds what they share.
"""

from ssrfnet.prep.evalsets.cnceleb import prepare_cnceleb
from ssrfnet.prep.evalsets.sitw import prepare_sitw
from ssrfnet.prep.evalsets.vcmix import prepare_vcmix
from ssrfnet.prep.evalsets.voices import prepare_voices
from ssrfnet.prep.evalsets.voxsrc23 import prepare_voxsrc23

PREPARERS = {
    "voxsrc23": prepare_voxsrc23,
    "vcmix": prepare_vcmix,
    "voices": prepare_voices,
    "cnceleb": prepare_cnceleb,
    "sitw": prepare_sitw,
}
EVAL_SETS = tuple(PREPARERS)

__all__ = ["EVAL_SETS", "PREPARERS", "prepare_cnceleb", "prepare_sitw", "prepare_vcmix", "prepare_voices",
           "prepare_voxsrc23"]
