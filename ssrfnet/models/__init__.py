"""Speaker-embedding models: SV-Mixer, ReDimNet, their fusion SSRFNet, and the baselines.

Public API (other packages code against these names):
  build_model(cfg) -> nn.Module             flat config dict, model_type in MODEL_TYPES
  from_official(source) -> eval nn.Module   official artifact: IDRnD ReDimNet hub file, the released SSRFNet
                                            pair, an SSRFNet (Lightning) checkpoint (dict, path, dir, 'a,b')
  recognise_official(source) -> Recognised  what an official source is, without building it
  import_official(sources, out)             convert an official artifact into our model file
  save_model(model, cfg, path) / load_model(model_argument_or_dict) -> eval nn.Module
  model_source_dir(model_argument) -> Path  the folder a --model argument (file, pair dir, 'a,b') lives in
  to_official_state_dict(model)             our weights under the official key names
  use_fast_kernels(model) / use_plain_ops(model) -> the same model with the fast CPU kernels swapped in/out
  count_parameters(model) -> dict
  student_of(model) -> the distillable student, or None
  check_model_keys(model_type, keys, where) (ssrfnet.models.options): ConfError for a key the type ignores

Model types (MODEL_KEYS[type] lists the model keys each one reads):
  ssrfnet            SV-Mixer student fused into a ReDimNet backend by the PFM (the paper's system)
  svmixer            SV-Mixer student + our softmax-layer-mix ASTP head
  redimnet           plain ReDimNet (B0..B6, M presets; B2 on 72-mel log-mel is conf/redimnet_b2.conf)
  ssrfnet_nofusion   the SSRFNet backend alone: PFM injection off, no student (ablation)
  svmixer_ecapa      SV-Mixer student + ECAPA-TDNN over all hidden states (the SV-Mixer paper's system)
  transformer_ecapa  WavLM-style Transformer student + the same ECAPA-TDNN
  mfcc_stats         the no-training sanity baseline: per-utterance mean and std of 30 MFCCs (no parameters)

The embedding interface, every model type:
  embed_dim                  int
  crop_samples               int (the model takes exactly this many samples: 48000 for the faithful
                             SV-Mixer models) or None (any length)
  forward(wav (B, N) float32 16 kHz) -> (B, embed_dim) un-normalised embedding
  forward_train(wav) -> (embedding (B, embed_dim), hidden states (B, L+1, T, H) or None)
                             one pass for the training step; the second item is the student's hidden
                             states for the KD loss, None for the student-free types (redimnet,
                             ssrfnet_nofusion), which train with the speaker loss alone.
The student interface, the types in STUDENT_MODEL_TYPES (`model.student`, what stage 2 distils):
  hidden_size, num_layers    ints (the KD heads read hidden_size; the last state is index num_layers)
  crop_samples               int or None, as above
  forward(wav) -> (B, L+1, T, H) hidden states at 50 Hz (index 0: projected CNN features, L: final LayerNorm)
  SVMixer, or TransformerStudent (which also has init_from_wavlm(teacher_model) for DistilHuBERT's
  initialisation from the teacher's first layers).
"""

from ssrfnet.models.build import (
    MODEL_DEFAULTS,
    MODEL_KEYS,
    MODEL_TYPES,
    STUDENT_MODEL_TYPES,
    build_model,
    count_parameters,
    student_of,
)
from ssrfnet.models.checkpoint import load_model, save_model
from ssrfnet.models.conversion import import_official
from ssrfnet.models.ecapa import ECAPABackend, StudentECAPA
from ssrfnet.models.fast import use_fast_kernels, use_plain_ops
from ssrfnet.models.fusion import PFM, SSRFNet, pfm_windows
from ssrfnet.models.nofusion import SSRFNoFusion
from ssrfnet.models.official import from_official, recognise_official, to_official_state_dict
from ssrfnet.models.official_files import model_source_dir
from ssrfnet.models.redimnet import ReDimNet
from ssrfnet.models.svmixer import SVMixer, SVMixerEmbedder
from ssrfnet.models.transformer_student import TransformerStudent

__all__ = [
    "MODEL_DEFAULTS", "MODEL_KEYS", "MODEL_TYPES", "PFM", "STUDENT_MODEL_TYPES", "ECAPABackend", "ReDimNet",
    "SSRFNet", "SSRFNoFusion", "SVMixer", "SVMixerEmbedder", "StudentECAPA", "TransformerStudent",
    "build_model", "count_parameters", "from_official", "import_official", "load_model", "model_source_dir",
    "pfm_windows", "recognise_official", "save_model", "student_of", "to_official_state_dict",
    "use_fast_kernels", "use_plain_ops",
]
