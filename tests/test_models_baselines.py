"""The baseline model types (issue 14): ReDimNet-B2, the no-fusion ablation, SV-Mixer/ECAPA and the
Transformer student with ECAPA, built from their confs; parameter counts, shapes, gradients, determinism,
model files, key layout, the conf-key check and the Transformer student's initialisation from WavLM."""

import argparse
import math

import pytest
import torch

from ssrfnet.cli import all_option_names
from ssrfnet.config import read_conf
from ssrfnet.errors import ConfError, InputError
from ssrfnet.losses import AAMSoftmax
from ssrfnet.models import (
    MODEL_DEFAULTS,
    MODEL_KEYS,
    MODEL_TYPES,
    STUDENT_MODEL_TYPES,
    build_model,
    count_parameters,
    load_model,
    save_model,
    student_of,
    use_plain_ops,
)
from ssrfnet.models.configs import REDIMNET_CONFIGS, stages_from_str
from ssrfnet.models.ecapa import ECAPA_CHANNELS, ECAPABackend
from ssrfnet.models.options import add_model_options, check_model_keys, model_config_from_args

from helpers import CONF_DIR

CONF = CONF_DIR
SVMIXER_FULL = 49_680_460  # the 12 x 1024 SV-Mixer student (pinned in test_models_build)
SSRFNET_BACKEND_FULL = 25_483_920

# conf -> (exp name, model type, parameters)
BASELINE_CONFS = {
    "redimnet_b2.conf": ("redimnet_b2", "redimnet", 5_067_057),
    "ssrfnet_nofusion.conf": ("ssrfnet_nofusion", "ssrfnet_nofusion", 4_460_177),
    "svmixer_ecapa.conf": ("svmixer_ecapa", "svmixer_ecapa", 80_263_661),
    "transformer_student_ecapa.conf": ("transformer_student_ecapa", "transformer_ecapa", 194_877_761),
    "redimnet_b2_mini.conf": ("redimnet_b2", "redimnet", 626_081),
    "ssrfnet_nofusion_mini.conf": ("ssrfnet_nofusion", "ssrfnet_nofusion", 286_089),
    "svmixer_ecapa_mini.conf": ("svmixer_ecapa", "svmixer_ecapa", 3_625_371),
    "transformer_student_ecapa_mini.conf": ("transformer_student_ecapa", "transformer_ecapa", 2_203_810),
}
MINI = sorted(name for name in BASELINE_CONFS if name.endswith("_mini.conf"))
# the option the lead adds to the recipe options; until then no option group knows it
TRAIN_PTM_KEYS = ("teacher", "kd-", "distill-", "init-student")


pytestmark = pytest.mark.usefixtures("one_thread")


def conf_model_config(name: str) -> dict:
    """The model config a conf gives, through the model option group (other stages' keys are skipped)."""
    parser = argparse.ArgumentParser()
    add_model_options(parser)
    model_keys = {k.replace("_", "-") for k in MODEL_DEFAULTS}
    argv = [f"--{k}={v}" for k, v, _ in read_conf(CONF / name) if k in model_keys]
    return model_config_from_args(parser.parse_args(argv))


def build_from_conf(name: str, meta: bool = False):
    torch.manual_seed(0)
    cfg = conf_model_config(name)
    if meta:
        with torch.device("meta"):
            return build_model(cfg), cfg
    return build_model(cfg), cfg


def _wav(batch=2, n=48000, seed=0):
    return 0.05 * torch.randn(batch, n, generator=torch.Generator().manual_seed(seed))


# -- confs ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BASELINE_CONFS))
def test_conf_keys_exp_name_and_model_type(name):
    exp_name, model_type, _ = BASELINE_CONFS[name]
    entries = {k: v for k, v, _ in read_conf(CONF / name)}
    unknown = set(entries) - all_option_names()
    assert not unknown, f"{name}: keys no option group knows: {sorted(unknown)}"
    assert entries["exp-name"] == exp_name
    assert entries["model-type"] == model_type
    check_model_keys(model_type, entries, where=str(CONF / name))
    if model_type not in STUDENT_MODEL_TYPES:  # no teacher, KD or stage-2 option in a student-free conf
        assert not [k for k in entries if k.startswith(TRAIN_PTM_KEYS)]


@pytest.mark.parametrize("name", ["ssrfnet.conf", "ssrfnet_mini.conf"])
def test_ssrfnet_confs_set_only_keys_the_model_reads(name):
    entries = {k: v for k, v, _ in read_conf(CONF / name)}
    check_model_keys("ssrfnet", entries, where=name)
    assert entries["exp-name"] == "ssrfnet"  # today's exp/ssrfnet paths stay


def test_check_model_keys_names_the_stray_option():
    check_model_keys("redimnet", ["--redimnet-freq", "embed_dim", "--seed"])  # training keys are not its job
    with pytest.raises(ConfError, match="conf/x.conf: --svmixer-layers does not apply to --model-type=redim"):
        check_model_keys("redimnet", ["--svmixer-layers"], where="conf/x.conf")
    with pytest.raises(ConfError, match="--pfm-windows does not apply to --model-type=ssrfnet_nofusion"):
        check_model_keys("ssrfnet_nofusion", ["pfm_windows"])
    with pytest.raises(ConfError, match="--mel-bins does not apply to --model-type=svmixer_ecapa"):
        check_model_keys("svmixer_ecapa", ["mel-bins"])
    with pytest.raises(ConfError, match="--model-type must be one of"):
        check_model_keys("ecapa", [])


TINY = {
    "ssrfnet": dict(svmixer_layers=4, svmixer_hidden=128, svmixer_cnn_channels=16, redimnet_freq=16,
                    redimnet_channels=8, redimnet_stages="1:1:1:16,2:1:1:16,1:1:1:8,2:1:1:8"),
    "svmixer": dict(svmixer_layers=2, svmixer_hidden=128, svmixer_cnn_channels=16),
    "redimnet": dict(redimnet_freq=16, redimnet_channels=4, redimnet_stages="1:1:1:16,2:1:1:8"),
    "ssrfnet_nofusion": dict(redimnet_freq=16, redimnet_channels=8, redimnet_stages="1:1:1:16,2:1:1:8"),
    "svmixer_ecapa": dict(svmixer_layers=2, svmixer_hidden=128, svmixer_cnn_channels=16, ecapa_channels=32,
                          ecapa_merge_channels=48),
    "transformer_ecapa": dict(transformer_layers=2, transformer_hidden=32, transformer_heads=2,
                              transformer_ffn=64, transformer_cnn_channels=16, ecapa_channels=32,
                              ecapa_merge_channels=48),
    "mfcc_stats": {},  # the sanity baseline: nothing to configure
}


def _other_value(key, value):
    if isinstance(value, bool):
        return not value
    if key == "redimnet_stages":
        return "1:1:1:8,2:1:1:8,2:1:1:8"
    if key == "redimnet_preset":
        return "b0"
    if key == "fast_ops":
        return value is not True
    if key in ("redimnet_block_2d", "redimnet_block_1d"):
        return {"redimnet_block_2d": "basic_resnet", "redimnet_block_1d": "att"}[key]
    if isinstance(value, float):
        return value / 2
    return value * 2


def _shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_model_keys_lists_what_each_type_reads(model_type):
    """Changing a key outside MODEL_KEYS[type] leaves the built model (names and shapes) unchanged."""
    base = {"model_type": model_type, **TINY[model_type]}
    reference = _shapes(build_model(base))
    for key in MODEL_DEFAULTS:
        if key in MODEL_KEYS[model_type]:
            continue
        value = base.get(key, MODEL_DEFAULTS[key])
        assert _shapes(build_model({**base, key: _other_value(key, value)})) == reference, key
    assert set(MODEL_KEYS[model_type]) <= set(MODEL_DEFAULTS)


# -- full-size parameter counts (meta tensors: no weights are initialised) ---------------------------------
def test_redimnet_b2_conf_is_the_released_b2():
    model, cfg = build_from_conf("redimnet_b2.conf")
    b2 = REDIMNET_CONFIGS["b2"]
    assert (cfg["redimnet_freq"], cfg["redimnet_channels"], cfg["hop_length"]) == (72, 16, 240)
    assert stages_from_str(cfg["redimnet_stages"]) == b2["stages"]
    assert (cfg["redimnet_block_2d"], cfg["redimnet_group_divisor"]) == (b2["block_2d"], b2["group_divisor"])
    assert model.frontend.n_mels == 72 and model.frontend.hop_length == 240
    assert count_parameters(model)["total"] == 5_067_057
    assert model.crop_samples is None and student_of(model) is None


def test_nofusion_is_the_ssrfnet_backend_without_the_pfm():
    model, _ = build_from_conf("ssrfnet_nofusion.conf")
    ssrfnet, _ = build_from_conf("ssrfnet.conf")
    ours = _shapes(model)
    theirs = {k[len("backend."):]: v for k, v in _shapes(ssrfnet).items() if k.startswith("backend.")}
    # every key is the SSRFNet backend's; only the layer mixes have fewer inputs; the rest is the PFM
    assert set(ours) <= set(theirs)
    assert {k.split(".")[0] for k in set(theirs) - set(ours)} == {"pfm"}
    differ = sorted(k for k in ours if ours[k] != theirs[k])
    assert differ == sorted([f"body.stages.{i}.mix.w" for i in range(6)] + ["body.final_mix.w"])
    smaller_mixes = sum(math.prod(theirs[k]) - math.prod(ours[k]) for k in differ)
    pfm = count_parameters(ssrfnet)["pfm"]
    assert count_parameters(model)["total"] == SSRFNET_BACKEND_FULL - pfm - smaller_mixes == 4_460_177


def _ecapa_total(channels: int) -> int:
    with torch.device("meta"):
        backend = ECAPABackend(num_layers=12, hidden=1024, channels=channels)
    return SVMIXER_FULL + sum(p.numel() for p in backend.parameters())


def test_ecapa_channels_derived_from_the_reported_total():
    """SSRFNet Table 2 reports 80.3 M for SV-Mixer / ECAPA; the official code does not fix the ECAPA width C.
    The total grows with C, and C = 1356 is the only multiple of 4 (the Res2Net scale) whose total rounds
    to 80.3 M: 1352 -> 80.14 M, 1356 -> 80.26 M, 1360 -> 80.39 M. Round widths do not fit (1024 -> 70.7 M,
    1536 -> 86.2 M)."""
    assert ECAPA_CHANNELS == 1356
    assert _ecapa_total(1352) < 80.25e6 <= _ecapa_total(1356) == 80_263_661 < 80.35e6 <= _ecapa_total(1360)
    assert round(_ecapa_total(1024) / 1e6, 1) == 70.7 and round(_ecapa_total(1536) / 1e6, 1) == 86.2


def test_svmixer_ecapa_full_size():
    model, _ = build_from_conf("svmixer_ecapa.conf", meta=True)
    counts = count_parameters(model)
    assert counts == {"student": SVMIXER_FULL, "backend": 30_583_201, "total": 80_263_661,
                      "trainable": 80_263_661}
    assert model.backend.layer_weights.shape == (1, 13, 1, 1)
    assert model.crop_samples == 48000 and model.embed_dim == 192


def test_transformer_student_full_size_and_compression_points():
    model, _ = build_from_conf("transformer_student_ecapa.conf", meta=True)
    student = student_of(model)
    assert (student.num_layers, student.hidden_size) == (12, 1024)
    assert count_parameters(model) == {"student": 164_294_560, "backend": 30_583_201,
                                       "total": 194_877_761, "trainable": 194_877_761}
    # the 75 % compression point of the 24-layer teacher is a conf swap
    cfg = {**conf_model_config("transformer_student_ecapa.conf"), "transformer_layers": 6}
    with torch.device("meta"):
        half_depth = build_model(cfg)
    assert count_parameters(half_depth)["student"] == 88_714_000
    assert half_depth.backend.layer_weights.shape == (1, 7, 1, 1)


# -- mini models: forward, gradients, determinism, model files ---------------------------------------------
@pytest.mark.parametrize("name", MINI)
def test_mini_model_trains_and_round_trips(name, tmp_path):
    _, model_type, total = BASELINE_CONFS[name]
    model, cfg = build_from_conf(name)
    assert count_parameters(model)["total"] == total
    emb, hidden = model.forward_train(_wav(batch=4))
    assert emb.shape == (4, 192) and model.embed_dim == 192
    student = student_of(model)
    if model_type in STUDENT_MODEL_TYPES:
        assert hidden.shape == (4, student.num_layers + 1, 149, student.hidden_size)
    else:
        assert hidden is None and student is None
    # the speaker loss alone reaches every trainable parameter
    loss, _ = AAMSoftmax(192, 5, topk=0)(emb, torch.tensor([0, 1, 2, 3]))
    loss.backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not missing
    model.eval()
    with torch.no_grad():
        first, second = model(_wav(seed=1)), model(_wav(seed=1))
    assert torch.equal(first, second)
    save_model(model, cfg, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    assert type(loaded) is type(model) and not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(_wav(seed=1)), first)


def test_student_types_have_students():
    for model_type in MODEL_TYPES:
        model = build_model({"model_type": model_type, **TINY[model_type]})
        student = student_of(model)
        assert (student is not None) == (model_type in STUDENT_MODEL_TYPES), model_type
        if student is not None:
            hidden = student(_wav(batch=1))
            assert hidden.shape[1:] == (student.num_layers + 1, 149, student.hidden_size)
            assert student.crop_samples == model.crop_samples


def test_input_lengths():
    nofusion = build_model({"model_type": "ssrfnet_nofusion", **TINY["ssrfnet_nofusion"]}).eval()
    transformer = build_model({"model_type": "transformer_ecapa", **TINY["transformer_ecapa"]}).eval()
    svmixer = build_model({"model_type": "svmixer_ecapa", **TINY["svmixer_ecapa"]}).eval()
    with torch.no_grad():
        for n in (16000, 23456, 96000):
            assert nofusion(_wav(n=n)).shape == (2, 192)
            assert transformer(_wav(n=n)).shape == (2, 192)
        with pytest.raises(InputError, match="expects 3 s crops of 48000 samples"):
            svmixer(_wav(n=32000))
        with pytest.raises(InputError, match="at least 640 samples"):
            nofusion(_wav(n=600))
        with pytest.raises(InputError, match="at least 400 samples"):
            transformer(_wav(n=399))
        with pytest.raises(InputError, match="waveform"):
            transformer(torch.zeros(48000))


def test_nofusion_fast_and_plain_ops_agree():
    torch.manual_seed(0)
    model = build_model({"model_type": "ssrfnet_nofusion", **TINY["ssrfnet_nofusion"]}).eval()
    with torch.no_grad():
        fast = model(_wav())
        plain = use_plain_ops(model)(_wav())
    assert (fast - plain).abs().max().item() < 1e-4


def test_ecapa_feature_noise_only_in_training():
    torch.manual_seed(0)
    cfg = {"model_type": "svmixer_ecapa", **TINY["svmixer_ecapa"], "svmixer_dropout": 0.0}
    noisy = build_model(cfg)
    quiet = build_model({**cfg, "ecapa_feature_noise": False})
    quiet.load_state_dict(noisy.state_dict())
    wav = _wav()
    with torch.no_grad():
        assert torch.equal(noisy.eval()(wav), quiet.eval()(wav))
        noisy.train()
        quiet.train()
        assert torch.equal(quiet(wav), quiet(wav))  # training mode (batch statistics), no noise
        assert not torch.equal(noisy(wav), noisy(wav))


def test_ecapa_layer_weights_official_init_no_softmax():
    torch.manual_seed(0)
    model = build_model({"model_type": "svmixer_ecapa", **TINY["svmixer_ecapa"]}).eval()
    weights = model.backend.layer_weights
    assert weights.shape == (1, 3, 1, 1) and bool(((weights >= 0) & (weights < 1)).all())
    assert not torch.allclose(weights.sum(), torch.tensor(1.0))
    # a plain weighted sum: the InstanceNorm after it makes a common scale of the weights irrelevant
    with torch.no_grad():
        before = model(_wav())
        weights.mul_(3.0)
        after = model(_wav())
    assert torch.allclose(before, after, atol=1e-5)


# -- the Transformer student --------------------------------------------------------------------------------
def test_transformer_student_states_follow_wavlm_and_init_from_teacher(tmp_path):
    from ssrfnet.models.teacher import WavLMTeacher, make_random_wavlm

    teacher_dir = make_random_wavlm(tmp_path / "teacher", hidden_size=32, num_layers=3, num_heads=2,
                                    intermediate_size=64, conv_dim=16, seed=3)
    teacher = WavLMTeacher(teacher_dir, layers=None)
    model = build_model({"model_type": "transformer_ecapa", **TINY["transformer_ecapa"]}).eval()
    student = student_of(model)
    wav = _wav(batch=1)
    with torch.no_grad():
        before = student(wav)
    student.init_from_wavlm(teacher.model)
    with torch.no_grad():
        states = student(wav)
        targets = teacher(wav)
    assert not torch.allclose(before[:, 1], states[:, 1])
    # the same front end and first layer: index 0 (layer-1 input) and 1 (layer-1 output) agree
    assert torch.allclose(states[:, :2], targets[:, :2], atol=1e-5)
    # the last student state is the final LayerNorm of layer 2, not the teacher's layer-2 output
    assert torch.allclose(states[:, 2], torch.nn.functional.layer_norm(
        targets[:, 2], (32,), teacher.model.encoder.layer_norm.weight, teacher.model.encoder.layer_norm.bias,
        teacher.model.config.layer_norm_eps), atol=1e-5)
    student.init_from_wavlm(teacher.model, layers=[1, 2])
    w = student.wavlm.encoder.layers[0].feed_forward.output_dense.weight
    assert torch.equal(w, teacher.model.encoder.layers[1].feed_forward.output_dense.weight)
    with pytest.raises(ConfError, match="3 teacher layers given for 2 student layers"):
        student.init_from_wavlm(teacher.model, layers=[0, 1, 2])
    wide = build_model({"model_type": "transformer_ecapa", **TINY["transformer_ecapa"],
                        "transformer_hidden": 64})
    with pytest.raises(ConfError, match="shapes differ"):
        student_of(wide).init_from_wavlm(teacher.model)


TRANSFORMER_TINY = {"model_type": "transformer_ecapa", **TINY["transformer_ecapa"]}


def test_transformer_options_validated():
    with pytest.raises(ConfError, match="--transformer-hidden 40 must be a multiple of 16"):
        build_model({**TRANSFORMER_TINY, "transformer_hidden": 40})
    with pytest.raises(ConfError, match="not divisible by --transformer-heads 3"):
        build_model({**TRANSFORMER_TINY, "transformer_heads": 3})
