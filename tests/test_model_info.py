import json

import pytest
import torch
from torch import nn

from ssrfnet.models.summary import count_macs, format_summary, model_summary

from helpers import CONF_DIR


class _Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_layers = nn.Conv1d(1, 8, 400, 320)
        self.feat_projection = nn.Linear(8, 16)
        self.layers = nn.ModuleList(nn.Linear(16, 16) for _ in range(3))

    def forward(self, wav):
        h = self.feat_projection(self.conv_layers(wav[:, None]).transpose(1, 2))
        for block in self.layers:
            h = block(h)
        return h


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.student = _Student()
        self.backend = nn.Linear(16, 4)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, wav):
        return self.backend(self.student(wav)).mean(1) * self.scale


def test_model_summary_counts_toy_model():
    model = _Toy().train()
    s = model_summary(model, seconds=1.0)
    assert model.training  # mode restored
    frames = (16000 - 400) // 320 + 1
    conv = 8 * 400 * frames
    proj = 8 * 16 * frames
    block = 16 * 16 * frames
    backend = 16 * 4 * frames
    assert s["macs"] == conv + proj + 3 * block + backend
    assert s["params"] == sum(p.numel() for p in model.parameters())
    assert s["student_params"] == sum(p.numel() for p in model.student.parameters())
    assert s["student_macs"] == conv + proj + 3 * block
    assert s["backend_macs"] == backend
    assert s["num_blocks"] == 3 and s["block_params"] == 16 * 16 + 16 and s["block_macs"] == block
    rows = {r["path"]: r for r in s["parts"]}
    assert rows["student.layers"]["macs"] == 3 * block  # a ModuleList is never called: sum of items
    assert rows["student.layers.1"]["params"] == 272
    json.dumps(s)
    text = format_summary(s)
    assert "total" in text and f"{s['params']:,}" in text


def test_count_macs_per_module():
    total, per = count_macs(nn.Sequential(nn.Conv1d(1, 1, 10, 10)), seconds=0.01)
    assert total == 10 * 16 and per["0"] == total


FULL_CONF = CONF_DIR / "ssrfnet.conf"
MINI_CONF = CONF_DIR / "ssrfnet_mini.conf"


def test_cli_small_conf_table_and_json(capsys):
    from ssrfnet.bin.model_info import main

    assert main(["--conf", str(MINI_CONF), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["model"] == "SSRFNet" and s["num_samples"] == 48000
    assert s["params"] == s["student_params"] + s["backend_params"]
    assert s["num_blocks"] == 5 and s["block_macs"] > 0
    rows = {r["path"]: r for r in s["parts"]}
    blocks = [r for p, r in rows.items() if p.startswith("student.layers.")]
    assert len(blocks) == 5 and all(r["params"] == s["block_params"] for r in blocks)
    assert rows["student.layers"]["macs"] == sum(r["macs"] for r in blocks)
    assert (
        rows["backend.pfm"]["params"]
        == rows["backend.pfm.mix"]["params"] + rows["backend.pfm.proj"]["params"]
    )
    assert "backend.body.stages.5" in rows and "backend.body.stages" not in rows
    assert s["macs"] == s["student_macs"] + s["backend_macs"]
    text = format_summary(s)
    assert "SV-Mixer" in text and "PFM" in text and "block 5" in text and f"{s['params']:,}" in text
    assert main(["--conf", str(MINI_CONF), "--no-macs", "--svmixer-layers", "6"]) == 0
    text = capsys.readouterr().out
    assert "block 6" in text and "block 7" not in text and "GMACs" not in text
    assert main(["--conf", str(MINI_CONF), "--frames-sec", "2"]) == 1
    assert "48000" in capsys.readouterr().err


def test_full_conf_parameters(capsys):
    from ssrfnet.bin.model_info import main

    assert main(["--conf", str(FULL_CONF), "--no-macs", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["params"] == 75_164_380
    assert s["student_params"] == 49_680_460
    assert s["backend_params"] == 25_483_920
    assert s["block_params"] == 3_745_969
    assert "macs" not in s
    rows = {r["path"]: r for r in s["parts"]}
    assert rows["student.conv_layers"]["params"] == 4_200_448
    assert rows["student.feat_projection"]["params"] == 526_336
    assert rows["backend.stem"]["params"] == 410_624
    assert [rows[f"backend.body.stages.{i}"]["params"] for i in range(6)] == [
        186_448,
        192_096,
        459_680,
        484_544,
        485_568,
        1_330_560,
    ]


def test_block_macs_match_official_analysis():
    """One full-size SV-Mixer block: 0.632 GMACs (analytic; thop 0.634) at T = 149."""
    from ssrfnet.models.svmixer import MixerBlock

    block = MixerBlock(1024, 149, 0.1, 0.1)  # the plain modules: the operations the paper counts
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        block(torch.zeros(1, 149, 1024))
    assert counter.get_total_flops() // 2 == pytest.approx(632e6, rel=0.002)
