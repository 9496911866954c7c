"""Speaker-embedding models: SV-Mixer, ReDimNet and their fusion SSRFNet.

Public API (other packages code against these names):
  build_model(cfg) -> nn.Module             flat config dict, model_type in {'ssrfnet','svmixer','redimnet'}
  from_official(source) -> eval nn.Module   official artifact: IDRnD ReDimNet hub file, the released SSRFNet
                                            pair, an SSRFNet (Lightning) checkpoint (dict, path, dir, 'a,b')
  recognise_official(source) -> Recognised  what an official source is, without building it
  import_official(sources, out)             convert an official artifact into our model file
  save_model(model, cfg, path) / load_model(model_argument_or_dict) -> eval nn.Module
  model_source_dir(model_argument) -> Path  the folder a --model argument (file, pair dir, 'a,b') lives in
  to_official_state_dict(model)             our weights under the official key names
  use_fast_kernels(model) / use_plain_ops(model) -> the same model with the fast CPU kernels swapped in/out
  count_parameters(model) -> dict
Every embedding model has `embed_dim`, `crop_samples` (int, or None for any length) and
forward(wav (B, N) float32 16 kHz) -> (B, embed_dim). SSRFNet adds `.student` and
`.forward_train(wav) -> (embedding, hidden states (B, L+1, T, H))`.
"""

from ssrfnet.models.build import MODEL_DEFAULTS, MODEL_TYPES, build_model, count_parameters
from ssrfnet.models.checkpoint import load_model, save_model
from ssrfnet.models.conversion import import_official
from ssrfnet.models.fast import use_fast_kernels, use_plain_ops
from ssrfnet.models.fusion import PFM, SSRFNet, pfm_windows
from ssrfnet.models.official import from_official, recognise_official, to_official_state_dict
from ssrfnet.models.official_files import model_source_dir
from ssrfnet.models.redimnet import ReDimNet
from ssrfnet.models.svmixer import SVMixer, SVMixerEmbedder

__all__ = [
    "MODEL_DEFAULTS", "MODEL_TYPES", "PFM", "ReDimNet", "SSRFNet", "SVMixer", "SVMixerEmbedder",
    "build_model", "count_parameters", "from_official", "import_official", "load_model", "model_source_dir",
    "pfm_windows", "recognise_official", "save_model", "to_official_state_dict", "use_fast_kernels",
    "use_plain_ops",
]
