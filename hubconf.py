"""torch.hub entry points of this repository.

    import torch
    model = torch.hub.load("path/to/this/repo", "ssrfnet", weights="exp/ssrfnet/final.pt", source="local")
    model = torch.hub.load("path/to/this/repo", "redimnet", weights="https://.../b2.pt", source="local")
    speaker = torch.hub.load("path/to/this/repo", "speaker_model", source="local", path="exp/ssrfnet")

`weights`: a local path or a URL of a model file (ours, an official ReDimNet hub file, an official SSRFNet
checkpoint); without it a randomly initialised model is built from the keyword arguments (model keys of
`ssrfnet.models.MODEL_DEFAULTS`). The models map a (batch, samples) float32 16 kHz waveform to
(batch, 192) embeddings; `speaker_model` returns the Python API object (embed, similarity, verify).
"""

dependencies = ["torch", "torchaudio", "numpy", "soundfile"]


def ssrfnet(weights=None, **config):
    """SSRFNet: SV-Mixer fused stage-wise into ReDimNet (default: the official full size, 75.2 M
    parameters, 3 s crops of 48000 samples)."""
    from ssrfnet.models.hub import hub_model

    return hub_model("ssrfnet", weights, **config)


def svmixer(weights=None, **config):
    """The SV-Mixer student alone with an embedding head."""
    from ssrfnet.models.hub import hub_model

    return hub_model("svmixer", weights, **config)


def redimnet(weights=None, **config):
    """ReDimNet (e.g. redimnet_preset='b2'; the official IDRnD hub files load as weights)."""
    from ssrfnet.models.hub import hub_model

    return hub_model("redimnet", weights, **config)


def speaker_model(path, **options):
    """ssrfnet.load_model(path, **options): embed / similarity / verify on any model the recipe writes."""
    import ssrfnet as package

    return package.load_model(path, **options)
