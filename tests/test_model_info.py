import json

import torch
from torch import nn

from ssrfnet.bin.model_info import count_macs, format_summary, model_summary


class _Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.frontend = nn.Conv1d(1, 8, 400, 320)
        self.projection = nn.Linear(8, 16)
        self.blocks = nn.ModuleList(nn.Linear(16, 16) for _ in range(3))

    def forward(self, wav):
        h = self.projection(self.frontend(wav[:, None]).transpose(1, 2))
        for block in self.blocks:
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
    assert rows["student.blocks"]["macs"] == 3 * block  # a ModuleList is never called: sum of items
    assert rows["student.blocks.1"]["params"] == 272
    json.dumps(s)
    text = format_summary(s)
    assert "total" in text and f"{s['params']:,}" in text


def test_count_macs_per_module():
    total, per = count_macs(nn.Sequential(nn.Conv1d(1, 1, 10, 10)), seconds=0.01)
    assert total == 10 * 16 and per["0"] == total
