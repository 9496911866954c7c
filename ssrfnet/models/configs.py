"""Named ReDimNet configurations (stage tuple = stride, blocks, conv_exp, att_red; 0 = no 1D block).

B0, B2 and M were rebuilt from released checkpoints; B1, B3, B4 and B6 follow WeSpeaker's builders and
are unverified against released weights (see docs in shared/reference/redimnet-official.md).
"""

from __future__ import annotations

from ssrfnet.errors import ConfError

REDIMNET_CONFIGS: dict[str, dict] = {
    "b0": dict(F=60, C=10, block_2d="basic_resnet", group_divisor=1, hop_length=240,
               stages=[(1, 2, 1, 30), (2, 3, 2, 30), (1, 3, 3, 30), (2, 4, 2, 10), (1, 3, 1, 10)]),
    "b1": dict(F=72, C=12, block_2d="convnext_like", group_divisor=8, hop_length=240,
               stages=[(1, 2, 1, 0), (2, 3, 1, 0), (3, 4, 1, 12), (2, 5, 1, 12), (2, 3, 1, 8)]),
    "b2": dict(F=72, C=16, block_2d="convnext_like", group_divisor=4, hop_length=240,
               stages=[(1, 2, 1, 12), (2, 2, 1, 12), (1, 3, 1, 12), (3, 4, 1, 8), (1, 4, 1, 8),
                       (2, 4, 1, 4)]),
    "b3": dict(F=72, C=16, block_2d="basic_resnet_fwse", group_divisor=1, hop_length=240,
               stages=[(1, 6, 4, 32), (2, 6, 2, 32), (1, 8, 2, 32), (2, 10, 2, 16), (1, 10, 1, 16),
                       (2, 8, 1, 16)]),
    "b4": dict(F=72, C=32, block_2d="basic_resnet_fwse", group_divisor=1, hop_length=240,
               stages=[(1, 4, 2, 48), (2, 4, 2, 48), (1, 6, 2, 48), (2, 6, 1, 32), (1, 8, 1, 24),
                       (2, 4, 1, 16)]),
    "b5": dict(F=72, C=32, block_2d="basic_resnet_fwse", group_divisor=16, hop_length=240,
               stages=[(1, 4, 2, 48), (2, 4, 2, 48), (1, 6, 2, 48), (2, 6, 1, 32), (1, 8, 1, 24),
                       (2, 4, 1, 16)]),
    "b6": dict(F=72, C=32, block_2d="basic_resnet", group_divisor=32, hop_length=240,
               stages=[(1, 4, 4, 32), (2, 6, 2, 32), (1, 6, 2, 24), (3, 8, 1, 24), (1, 8, 1, 16),
                       (2, 8, 1, 16)]),
    "m": dict(F=72, C=24, block_2d="basic_resnet", group_divisor=8, hop_length=160, norm_signal=True,
              stages=[(1, 4, 2, 24), (2, 5, 2, 24), (1, 6, 2, 24), (2, 8, 1, 24), (1, 8, 1, 24),
                      (2, 3, 1, 24)]),
}

# Parameter totals of the official classes (incl. the frozen stage-0 mixing weight).
REDIMNET_PARAMS = {"b0": 1_004_251, "b1": 2_126_937, "b2": 5_067_057, "b3": 3_225_021,
                   "b4": 6_441_521, "b5": 7_659_761, "b6": 15_015_473, "m": 4_811_745}

# SSRFNet's backend stages: B2-like, but stride 2 at stage 3 and attention reductions 16,16,8,8,8,4.
SSRFNET_BACKEND_STAGES = [(1, 2, 1, 16), (2, 2, 1, 16), (1, 3, 1, 8), (2, 4, 1, 8), (1, 4, 1, 8),
                          (2, 4, 1, 4)]


def stages_to_str(stages) -> str:
    """[(1,2,1,16), ...] -> '1:2:1:16,...' (the conf-file form)."""
    return ",".join(":".join(str(v) for v in stage) for stage in stages)


def stages_from_str(text: str) -> list[tuple[int, int, int, int]]:
    stages = []
    for item in str(text).replace(" ", "").split(","):
        parts = item.split(":")
        if len(parts) != 4:
            raise ConfError(f"--redimnet-stages: stage {item!r} must be stride:blocks:conv_exp:att_red")
        stages.append(tuple(int(p) for p in parts))
    return stages
