"""Every official artifact format, built here from our own modules in the official key layout.

The released SSRFNet pair (plain / {'state_dict'} / with and without prefixes, thop counters), an official
Lightning training checkpoint, IDRnD ReDimNet hub files of every released size in the current and the
pre-Nov-2024 layouts; each must give the same embeddings as the model it was written from. Bad input
(another configuration, an unknown hub name, a refused pickled type, a truncated file) must give one-line
CheckpointErrors naming the file.
"""

import argparse
import re
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch

import ssrfnet.models
from ssrfnet.errors import CheckpointError
from ssrfnet.models import build_model, count_parameters, load_model
from ssrfnet.models.configs import REDIMNET_CONFIGS, REDIMNET_PARAMS
from ssrfnet.models.conversion import import_official
from ssrfnet.models.official import match_official_state, recognise_official, to_official_state_dict
from ssrfnet.models.official_files import model_source_dir
from ssrfnet.models.official_keys import ssrfnet_official_key
from ssrfnet.models.official_redimnet import HUB_RELEASES, released_hub_files
from ssrfnet.models.official_ssrfnet import merge_ssrfnet_pair

from helpers import TINY_MODEL

TINY = TINY_MODEL
SV_NAME, CL_NAME = "ssrfnet_eer0.60_sv_mixer_state_dict.pt", "ssrfnet_eer0.60_classifier_state_dict.pt"


pytestmark = pytest.mark.usefixtures("one_thread")


def _wav(n=48000, seed=0):
    return 0.05 * torch.randn(2, n, generator=torch.Generator().manual_seed(seed))


def _perturbed(model, seed=0):
    """Random weights and BN statistics everywhere, so that any swapped or dropped key changes the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.add_(0.05 * torch.randn(tensor.shape, generator=gen))
                if name.endswith("running_var"):
                    tensor.abs_().add_(0.5)
    return model.eval()


def _embed(model, wav):
    with torch.no_grad():
        return model(wav)


def _tiny_ssrfnet(seed=0):
    torch.manual_seed(seed)
    return _perturbed(build_model(TINY), seed)


def _halves(model):
    """Our SSRFNet -> the released pair's two state dicts, with their prefixes and thop counters."""
    official = to_official_state_dict(model)
    sv = OrderedDict((k, v) for k, v in official.items() if k.startswith("student_model."))
    cl = OrderedDict((k, v) for k, v in official.items() if k.startswith("classifier."))
    for part, prefix in ((sv, "student_model."), (cl, "classifier.")):
        part[prefix + "total_ops"] = torch.zeros(1, dtype=torch.float64)
        part[prefix + "total_params"] = torch.zeros(1, dtype=torch.float64)
        inner = "backbone.stage0.total_ops" if prefix == "classifier." else "layers.0.total_ops"
        part[prefix + inner] = torch.zeros(1, dtype=torch.float64)
    return sv, cl


def _variant(state, prefixed, wrapped):
    if not prefixed:
        state = OrderedDict((k.partition(".")[2], v) for k, v in state.items())
    return {"state_dict": state} if wrapped else state


def _write_pair(tmp_path, model, prefixed, wrapped):
    sv, cl = _halves(model)
    folder = tmp_path / f"pair_{prefixed}_{wrapped}"
    folder.mkdir()
    torch.save(_variant(sv, prefixed, wrapped), folder / SV_NAME)
    torch.save(_variant(cl, prefixed, wrapped), folder / CL_NAME)
    return folder


@pytest.mark.parametrize("prefixed", [True, False])
@pytest.mark.parametrize("wrapped", [True, False])
def test_released_pair_every_variant_and_argument_form(tmp_path, prefixed, wrapped):
    model = _tiny_ssrfnet()
    folder = _write_pair(tmp_path, model, prefixed, wrapped)
    sv, cl = folder / SV_NAME, folder / CL_NAME
    want = _embed(model, _wav())
    for source in (folder, str(folder), f"{sv},{cl}", f"{cl}, {sv}", [sv, cl], [str(cl), str(sv)]):
        loaded = load_model(source, **TINY)
        assert not loaded.training
        assert torch.equal(_embed(loaded, _wav()), want), source
    rec = recognise_official(folder)
    assert rec.what.startswith("released SSRFNet pair") and rec.dropped["thop counters"] == 6
    assert "full-size official SSRFNet" in rec.config_source
    assert model_source_dir(folder) == folder and model_source_dir(f"{sv},{cl}") == folder


def test_pair_from_in_memory_dicts():
    model = _tiny_ssrfnet(1)
    sv, cl = _halves(model)
    loaded = ssrfnet.models.from_official([_variant(cl, False, True), _variant(sv, True, False)], **TINY)
    assert torch.equal(_embed(loaded, _wav()), _embed(model, _wav()))


def test_full_size_released_pair_maps_on_meta_device():
    """The full-size pair, key for key and shape for shape, without allocating 75 M parameters."""
    with torch.device("meta"):
        ours = build_model({})
        target = build_model({})
    sv, cl = _halves(ours)
    bare = [("sv", _variant(sv, False, True)), ("cl", _variant(cl, False, False))]
    merged, dropped = merge_ssrfnet_pair(bare)
    mapped, missing, unexpected, mis_shaped = match_official_state(target, merged, ssrfnet_official_key)
    assert (missing, mis_shaped) == ([], [])
    assert all(k.startswith("classifier.spec.") for k in unexpected)  # front-end buffers, recomputed
    params = dict(target.named_parameters())
    assert sum(v.numel() for k, v in mapped.items() if k in params) == 75_164_380
    assert sum(v.numel() for k, v in sv.items() if "total_" not in k) == 49_680_460  # no buffers
    assert sum(params[k].numel() for k in mapped if k.startswith("backend.") and k in params) == 25_483_920
    assert recognise_official([blob for _, blob in bare]).config == {"model_type": "ssrfnet"}


def test_pair_of_another_configuration_is_summarised(tmp_path):
    folder = _write_pair(tmp_path, _tiny_ssrfnet(), True, False)
    with pytest.raises(CheckpointError) as err:
        load_model(folder)  # no overrides: the released weights are the full-size model
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 1500
    assert msg.startswith(f"{folder / SV_NAME} + {folder / CL_NAME}: the weights do not fit the full-size")
    assert re.search(r"missing keys \(\d+\): student_model\.layers\.5\.", msg)
    assert re.search(r"mis-shaped keys \(\d+\): student_model\.conv_layers\.0\.conv\.weight: checkpoint "
                     r"\(16, 1, 10\) vs model \(512, 1, 10\)", msg)
    assert msg.count("; ") <= 3 and "more)" in msg


def test_half_of_the_pair_alone_and_bad_directories(tmp_path):
    folder = _write_pair(tmp_path, _tiny_ssrfnet(), False, True)
    with pytest.raises(CheckpointError, match=r"sv_mixer_state_dict.pt: holds only the SV-Mixer .* half"):
        load_model(folder / SV_NAME, **TINY)
    with pytest.raises(CheckpointError, match="both hold the classifier half"):
        load_model([folder / CL_NAME, folder / CL_NAME], **TINY)
    (folder / "ssrfnet_eer0.70_classifier_state_dict.pt").write_bytes((folder / CL_NAME).read_bytes())
    with pytest.raises(CheckpointError, match=r"one \*sv_mixer\*.pt and one \*classifier\*.pt; found"):
        load_model(folder)
    with pytest.raises(CheckpointError, match="no such model file or directory"):
        load_model(tmp_path / "absent")
    with pytest.raises(CheckpointError, match="absent.pt: no such model file"):
        load_model(f"{folder / SV_NAME},{tmp_path / 'absent.pt'}")


# --- the Lightning training checkpoint -------------------------------------------------------------------

def _fake_module(monkeypatch, dotted):
    """Register importable stand-in modules (for pickling classes under Lightning's own names)."""
    parts = dotted.split(".")
    for i in range(1, len(parts) + 1):
        monkeypatch.setitem(sys.modules, ".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    return sys.modules[dotted]


def _lightning_attribute_dict(monkeypatch):
    module = _fake_module(monkeypatch, "lightning.fabric.utilities.data")

    class AttributeDict(dict):
        pass

    AttributeDict.__module__, AttributeDict.__qualname__ = module.__name__, "AttributeDict"
    module.AttributeDict = AttributeDict
    return AttributeDict


def _optimizer_states(model):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=2e-5)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    opt.zero_grad(set_to_none=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=32000, T_mult=9)
    return [opt.state_dict()], [sched.state_dict()]


def _lightning_checkpoint(model, monkeypatch, tmp_path):
    state = OrderedDict(to_official_state_dict(model))
    state["student_model.total_ops"] = torch.zeros(1, dtype=torch.float64)
    state["classifier.backbone.total_params"] = torch.zeros(1, dtype=torch.float64)
    state["teacher_model.model.encoder.layers.0.attention.q_proj.weight"] = torch.randn(16, 16)
    state["teacher_model.model.feature_extractor.conv_layers.0.conv.weight"] = torch.randn(8, 1, 10)
    state["criterion_sv.weight"] = torch.randn(7, 192)
    state["criterion_sv.ce.weight"] = torch.rand(7)
    state["criterion_kd.heads.0.0.weight"] = torch.randn(128, 128)
    optimizer_states, lr_schedulers = _optimizer_states(model)
    ckpt_dir = tmp_path / "results" / "checkpoints"
    best = f"{ckpt_dir}/epoch=3-step=8000.ckpt"
    attribute_dict = _lightning_attribute_dict(monkeypatch)
    ckpt = {
        "epoch": 3, "global_step": 8000, "pytorch-lightning_version": "2.5.2", "state_dict": state,
        "loops": {"fit_loop": {
            "state_dict": {}, "epoch_loop.state_dict": {"_batches_that_stepped": 8000},
            "epoch_loop.batch_progress": {"total": {"ready": 8000, "completed": 8000, "started": 8000,
                                                    "processed": 8000}, "is_last_batch": False},
            "epoch_progress": {"total": {"ready": 4, "completed": 3, "started": 4, "processed": 3}}}},
        "callbacks": {
            "ModelCheckpoint{'monitor': 'EER', 'mode': 'min', 'every_n_train_steps': 2000, "
            "'every_n_epochs': 0, 'train_time_interval': None}": {
                "monitor": "EER", "best_model_score": torch.tensor(0.0061), "best_model_path": best,
                "current_score": torch.tensor(0.0063), "dirpath": str(ckpt_dir),
                "best_k_models": {best: torch.tensor(0.0061)}, "kth_best_model_path": best,
                "kth_value": torch.tensor(0.0061), "last_model_path": ""}},
        "optimizer_states": optimizer_states, "lr_schedulers": lr_schedulers,
        "hparams_name": "kwargs",
        "hyper_parameters": {"lr": 1e-4, "cos_lambda": 1.0, "save_dir": tmp_path / "results",
                             "args": argparse.Namespace(batch_size=32, max_steps=304000),
                             "loss": attribute_dict(topk=5, margin=0.2), "best_eer": np.float64(0.6)},
    }
    path = tmp_path / "epoch=3-step=8000.ckpt"
    torch.save(ckpt, path)
    return path


def test_lightning_checkpoint_loads_without_running_code(tmp_path, monkeypatch):
    model = _tiny_ssrfnet(2)
    path = _lightning_checkpoint(model, monkeypatch, tmp_path)
    for name in ("lightning.fabric.utilities.data", "lightning.fabric.utilities", "lightning.fabric",
                 "lightning"):
        monkeypatch.delitem(sys.modules, name)  # nothing of Lightning's may be needed to read it
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    assert "lightning.fabric.utilities.data.AttributeDict" in unsafe and "argparse.Namespace" in unsafe
    loaded = load_model(path, **TINY)
    assert torch.equal(_embed(loaded, _wav()), _embed(model, _wav()))
    rec = recognise_official(path)
    assert rec.what.startswith("SSRFNet Lightning checkpoint (pytorch-lightning 2.5.2, epoch 3, global step "
                               "8000; not read: callbacks, epoch, global_step, hparams_name, ")
    dropped = rec.dropped
    assert (dropped["teacher_model"], dropped["criterion_sv"], dropped["criterion_kd"]) == (2, 2, 1)
    assert rec.dropped["thop counters"] == 2
    out = tmp_path / "converted" / "final.pt"
    import_official([path], out, **TINY)
    assert torch.equal(_embed(load_model(out), _wav()), _embed(model, _wav()))


_RAN = []


def _record_call(what):
    _RAN.append(what)
    return what


class _Sneaky:
    def __reduce__(self):
        return _record_call, ("unpickling ran code",)


def test_pickled_code_is_refused_not_run(tmp_path):
    model = _tiny_ssrfnet()
    path = tmp_path / "last.ckpt"
    torch.save({"pytorch-lightning_version": "2.5.2", "state_dict": to_official_state_dict(model),
                "hyper_parameters": {"hook": _Sneaky()}}, path)
    with pytest.raises(CheckpointError) as err:
        load_model(path, **TINY)
    msg = str(err.value)
    assert _RAN == []
    assert msg.startswith(f"{path}: refused to unpickle 1 type(s)")
    assert "_record_call" in msg and "\n" not in msg


def test_truncated_and_foreign_files(tmp_path):
    model = _tiny_ssrfnet()
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": to_official_state_dict(model)}, good)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(cut))}: not a readable PyTorch checkpoint"):
        load_model(cut)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(text))}: not a readable PyTorch checkpoint"):
        load_model(text)
    odd = tmp_path / "odd.pt"
    torch.save({"weights": {"a": torch.zeros(1)}, "other": 3}, odd)
    with pytest.raises(CheckpointError, match="odd.pt: neither a state dict nor a dict with a 'state_dict'"):
        load_model(odd)


# --- IDRnD ReDimNet hub files --------------------------------------------------------------------------

def _hub_config(size):
    """The ReDimNetWrap kwargs a released hub file carries (explicit, as the fixtures hold them)."""
    preset = REDIMNET_CONFIGS[size]
    return {"F": preset["F"], "C": preset["C"], "block_1d_type": "conv+att",
            "block_2d_type": preset["block_2d"],
            "stages_setup": [[s, b, e, [[3, 3]], a or None] for s, b, e, a in preset["stages"]],
            "group_divisor": preset["group_divisor"], "out_channels": None, "embed_dim": 192,
            "num_classes": None,
            "class_dropout": 0.0, "feat_agg_dropout": 0.0, "head_activation": None,
            "hop_length": preset["hop_length"], "pooling_func": "ASTP", "feat_type": "pt",
            "global_context_att": True, "emb_bn": False,
            "spec_params": {"do_spec_aug": False, "norm_signal": preset.get("norm_signal", False)},
            "return_all_outputs": False, "tf_optimized_arch": False}


def _old_layout(state):
    """Current IDRnD keys -> the pre-Nov-2024 ones (mixing weights in a list, stage layers from 0)."""
    stages = {int(m.group(1)) for k in state if (m := re.match(r"backbone\.stage(\d+)\.", k))}
    out = OrderedDict()
    for key, value in state.items():
        m = re.match(r"backbone\.stage(\d+)\.(\d+)\.(.*)", key)
        if key == "backbone.fin_wght1d.w":
            out[f"backbone.inputs_weights.{len(stages)}"] = value
        elif m and m.group(2) == "0":
            out[f"backbone.inputs_weights.{m.group(1)}"] = value
        elif m:
            out[f"backbone.stage{m.group(1)}.{int(m.group(2)) - 2}.{m.group(3)}"] = value
        else:
            out[key] = value
    return out


def _redimnet(size, seed=0):
    torch.manual_seed(seed)
    return _perturbed(build_model({"model_type": "redimnet", "redimnet_preset": size}), seed)


def test_released_hub_names():
    names = released_hub_files()
    assert len(names) == 7 * 2 + 2 * 2
    assert {"b0-vox2-ptn", "b6-vox2-ft_lm", "M-vb2-ptn", "M-vb2+vox2+cnc-ft_mix",
            "S-vb2+vox2+cnc-ft_mix"} <= set(names)


@pytest.mark.parametrize("size", [f"b{i}" for i in range(7)] + ["M"])
def test_hub_files_every_size_both_layouts(tmp_path, size):
    model = _redimnet(size.lower())
    assert count_parameters(model)["total"] == REDIMNET_PARAMS[size.lower()]
    want = _embed(model, _wav(8000))
    state = to_official_state_dict(model)
    assert {"spec.torchfbank.2.mel_scale.fb", "backbone.stage0.0.w", "backbone.fin_wght1d.w"} <= set(state)
    dataset, train = next(iter(HUB_RELEASES[size].items()))
    config = _hub_config(size.lower())
    files = {f"{size}-{dataset}-{train[-1]}.pt": {"model_config": config, "state_dict": state},
             "renamed_old_layout.pt": {"model_config": config, "state_dict": _old_layout(state)},
             f"{size}-{dataset}-{train[0]}.pt": state}  # a bare state dict: its config from the released name
    if size != "M":
        files[f"redimnet-{size}-vox2-lm.pt"] = _old_layout(state)  # the pre-Nov-2024 release, bare
    for name, blob in files.items():
        torch.save(blob, tmp_path / name)
        loaded = load_model(tmp_path / name)
        assert torch.equal(_embed(loaded, _wav(8000)), want), name
        layout = "pre-Nov-2024" if "old" in name or name.startswith("redimnet-") else "current"
        assert f"({layout} key layout)" in recognise_official(tmp_path / name).what, name


def test_hub_model_s_needs_its_model_config(tmp_path):
    model = _redimnet("b0")
    state = to_official_state_dict(model)
    torch.save({"model_config": _hub_config("b0"), "state_dict": state}, tmp_path / "S-vb2-ptn.pt")
    assert torch.equal(_embed(load_model(tmp_path / "S-vb2-ptn.pt"), _wav(8000)), _embed(model, _wav(8000)))
    torch.save(state, tmp_path / "S-vb2+vox2+cnc-ft_mix.pt")
    with pytest.raises(CheckpointError, match=r"ft_mix.pt: no model_config and ReDimNet S.s configuration"):
        load_model(tmp_path / "S-vb2+vox2+cnc-ft_mix.pt")
    torch.save(state, tmp_path / "my_redimnet.pt")
    with pytest.raises(CheckpointError, match="without a model_config, and the file name is not a released"):
        load_model(tmp_path / "my_redimnet.pt")


def test_hub_file_of_unknown_model_name(tmp_path):
    state = to_official_state_dict(_redimnet("b0"))
    path = tmp_path / "b7-vox2-ft_lm.pt"
    torch.save({"model_config": _hub_config("b0"), "state_dict": state}, path)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: unknown ReDimNet hub model name 'b7'; known model names: "
                          "b0, b1, b2, b3, b4, b5, b6, M, S (files {model}-{dataset}-{ptn|ft_lm|ft_mix}.pt)")


def test_hub_state_dict_of_another_configuration(tmp_path):
    state = to_official_state_dict(_redimnet("b0"))
    torch.save(state, tmp_path / "b2-vox2-ptn.pt")  # a B0 state dict under B2's released name
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "b2-vox2-ptn.pt")
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 1500
    assert msg.startswith(f"{tmp_path / 'b2-vox2-ptn.pt'}: the weights do not fit the released configuration "
                          "of ReDimNet b2")
    # B2's ConvNeXt blocks against B0's ResNet blocks, and B0's 10 channels against B2's 16
    assert re.search(r"missing keys \(\d+\): backbone\.stage0\.3\.conv_block\.dwconvs", msg)
    assert re.search(r"unexpected keys \(\d+\): backbone\.stage0\.3\.conv_block\.conv1\.weight", msg)
    assert re.search(r"mis-shaped keys \(\d+\): backbone\.stem\.0\.weight: checkpoint \(10, 1, 3, 3\) vs "
                     r"model \(16, 1, 3, 3\)", msg)


# --- the command lines ---------------------------------------------------------------------------------

def test_import_official_cli(tmp_path, capsys):
    from ssrfnet.bin import import_official as cli

    model = _redimnet("b0")
    src = tmp_path / "b0-vox2-ptn.pt"
    torch.save({"model_config": _hub_config("b0"), "state_dict": to_official_state_dict(model)}, src)
    out = tmp_path / "exp" / "final.pt"
    assert cli.main([str(src), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("IDRnD ReDimNet hub file b0-vox2-ptn (current key layout); configuration: the file's model_config"
            in printed)
    blob = torch.load(out, weights_only=True)
    assert blob["format"] == "ssrfnet-model" and blob["official_source"]["files"] == str(src)
    assert torch.equal(_embed(load_model(out), _wav(8000)), _embed(model, _wav(8000)))
    folder = _write_pair(tmp_path, _tiny_ssrfnet(), True, True)
    assert cli.main([str(folder / SV_NAME), str(folder / CL_NAME), "--out", str(tmp_path / "bad.pt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("import_official: error: ") and err.count("\n") == 1 and "full-size" in err
    assert not (tmp_path / "bad.pt").exists()


def test_verify_takes_a_pair_directory_or_comma_pair(tmp_path, capsys, monkeypatch):
    """The --model string reaches the model loader intact (our tiny pair needs its config, added by the
    stub)."""
    from ssrfnet.audio import write_wav
    from ssrfnet.bin import verify
    from ssrfnet.models import checkpoint

    model = _tiny_ssrfnet(3)
    folder = _write_pair(tmp_path, model, False, False)
    seen = []
    real = checkpoint.load_model_and_config

    def load_tiny(source, **overrides):
        seen.append(source)
        return real(source, **TINY, **overrides)

    monkeypatch.setattr(checkpoint, "load_model_and_config", load_tiny)
    wavs = []
    for i in range(2):
        wavs.append(tmp_path / f"a{i}.wav")
        write_wav(wavs[-1], _wav(56000, seed=i)[0].numpy(), 16000)
    for arg in (str(folder), f"{folder / SV_NAME},{folder / CL_NAME}"):
        assert verify.main(["--model", arg, "--threshold", "0.5", "--json", *map(str, wavs)]) == 0
        assert '"score"' in capsys.readouterr().out
    assert seen == [str(folder), f"{folder / SV_NAME},{folder / CL_NAME}"]


def test_released_name_from_the_torch_hub_cache(tmp_path, monkeypatch):
    model = _redimnet("b0")
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save({"model_config": _hub_config("b0"), "state_dict": to_official_state_dict(model)},
               cache / "b0-vox2-ptn.pt")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.chdir(tmp_path)
    for name in ("b0-vox2-ptn", "B0-vox2-ptn.pt"):
        assert torch.equal(_embed(load_model(name), _wav(8000)), _embed(model, _wav(8000)))
    with pytest.raises(CheckpointError, match=r"b1-vox2-ft_lm: no such file, nor .*torch_home/hub/"
                       r"checkpoints/b1-vox2-ft_lm.pt in torch.hub's cache; the released file is https://"):
        load_model("b1-vox2-ft_lm")
    with pytest.raises(CheckpointError, match="^L-vox2-ptn: unknown ReDimNet hub model name 'L'"):
        load_model("L-vox2-ptn")


def test_hub_model_config_that_cannot_be_used(tmp_path):
    state = to_official_state_dict(_redimnet("b0"))
    bad = {"unsupported.pt": ({**_hub_config("b0"), "pooling_func": "TAP"},
                              "unsupported official ReDimNet options: pooling_func='TAP'"),
           "malformed.pt": ({**_hub_config("b0"), "stages_setup": [[1, 2]]},
                            r"malformed model_config \(IndexError"),
           "unbuildable.pt": ({**_hub_config("b0"), "stages_setup": [[7, 1, 1, [[3, 3]], 30]]},
                              "the file's model_config cannot be built: frequency size 60 is not divisible")}
    for name, (config, message) in bad.items():
        torch.save({"model_config": config, "state_dict": state}, tmp_path / name)
        with pytest.raises(CheckpointError, match=rf"^{re.escape(str(tmp_path / name))}: {message}"):
            load_model(tmp_path / name)
