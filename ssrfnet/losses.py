"""Training losses: additive-angular-margin softmax with a top-K hard-impostor term, and the
DistilHuBERT-style layer-prediction loss used for one-stage knowledge distillation (OS-KDFT).

Both losses are computed in float32 with autocast disabled, whatever precision the model runs in.

AAM-softmax (as in the official SSRFNet training code):
    cos_j = <e/|e|, w_j/|w_j|>, sin_j = sqrt(clamp(1 - cos_j^2, 0, 1))
    target logit          s * cos(theta_y + m)  = s * (cos_y cos m - sin_y sin m)   (no easy-margin fix)
    K hardest impostors   s * cos(theta_j - m') = s * (cos_j cos m' + sin_j sin m')
    other classes         s * cos_j
and a cross-entropy, optionally weighted by N_total / N_class (weighted mean over the batch).

The official code picks the K hardest impostors after multiplying the target cosine by -2, which selects the
target itself whenever its cosine is negative (then the target logit becomes phi + penalty - cos and only
K-1 impostors are penalised). `topk_mode='official'` reproduces that exactly; the default `'fixed'` masks the
target out; `'none'` turns the term off.

KD (DistilHuBERT): K prediction heads read the student's last hidden state and regress K teacher layers with
    per head  L1 = mean |p - t| over frames and channels,  C = sum_t (or mean_t) log sigmoid(cos(p_t, t_t)),
    loss = mean over the batch of sum over heads (L1 - lambda * C).
The official code sums C over frames ('sum'), which at 149 frames makes the cosine term dominate;
DistilHuBERT averages over frames ('mean').
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

TOPK_MODES = ("fixed", "official", "none")
COS_REDUCTIONS = ("sum", "mean")


def _float32(device: torch.device):
    """A context with autocast off on `device`, so a loss runs in float32 inside an AMP region."""
    if device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


class AAMSoftmax(nn.Module):
    """Additive angular margin softmax (ArcFace) with an optional top-K hard-impostor margin.

    forward(emb (B, D), labels (B,)) -> (loss, accuracy); accuracy is the top-1 fraction (0..1, detached)
    computed on the un-margined cosines.
    """

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        margin: float = 0.2,
        scale: float = 30.0,
        class_counts=None,
        topk: int = 5,
        topk_margin: float = 0.1,
        topk_mode: str = "fixed",
    ):
        super().__init__()
        if topk_mode not in TOPK_MODES:
            raise ValueError(f"topk_mode must be one of {TOPK_MODES}, got {topk_mode!r}")
        if num_classes < 2:
            raise ValueError(f"AAM-softmax needs at least 2 classes, got {num_classes}")
        self.embed_dim = int(embed_dim)
        self.num_classes = int(num_classes)
        self.margin = float(margin)
        self.scale = float(scale)
        self.topk = max(int(topk), 0)
        self.topk_margin = float(topk_margin)
        self.topk_mode = topk_mode if self.topk > 0 else "none"
        if self.topk_mode == "fixed":
            self.topk = min(self.topk, self.num_classes - 1)
        elif self.topk_mode == "official":
            self.topk = min(self.topk, self.num_classes)

        self.weight = nn.Parameter(torch.empty(self.num_classes, self.embed_dim))
        nn.init.xavier_normal_(self.weight, gain=1.0)

        if class_counts is not None:
            counts = torch.as_tensor(class_counts, dtype=torch.float64).flatten()
            if counts.numel() != self.num_classes:
                raise ValueError(f"class_counts has {counts.numel()} entries for {self.num_classes} classes")
            if (counts < 0).any():
                raise ValueError("class_counts must be non-negative")
            total = counts.sum()
            # N_total / N_class; a class never seen gets weight 0 (it can never be a target anyway).
            weights = torch.where(counts > 0, total / counts.clamp(min=1), torch.zeros_like(counts))
            self.register_buffer("class_weight", weights.float())
        else:
            self.class_weight = None

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_classes={self.num_classes}, margin={self.margin}, "
            f"scale={self.scale}, topk={self.topk}, topk_margin={self.topk_margin}, "
            f"topk_mode={self.topk_mode}, "
            f"class_weighted={self.class_weight is not None}"
        )

    def cosine(self, emb: torch.Tensor) -> torch.Tensor:
        """(B, D) embeddings -> (B, C) cosines to the class weights (float32)."""
        with _float32(emb.device):
            return F.linear(F.normalize(emb.float(), dim=1), F.normalize(self.weight.float(), dim=1))

    def penalty_mask(self, cosine: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B, C) float mask of the classes that get the hard-impostor logit cos(theta - m')."""
        mask = torch.zeros_like(cosine)
        if self.topk_mode == "none" or self.topk == 0:
            return mask
        with torch.no_grad():
            if self.topk_mode == "fixed":
                ranked = cosine.masked_fill(target.bool(), float("-inf"))
            else:  # official: the target's cosine times -2, so a negative target cosine ranks high
                ranked = cosine * (1.0 - 3.0 * target)
            index = ranked.topk(self.topk, dim=1).indices
        return mask.scatter_(1, index, 1.0)

    def logits(self, emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled margin logits (B, C) and the plain cosines (B, C)."""
        cosine = self.cosine(emb)
        with _float32(cosine.device):
            sine = torch.sqrt((1.0 - cosine * cosine).clamp(0.0, 1.0))
            phi = cosine * math.cos(self.margin) - sine * math.sin(self.margin)
            target = torch.zeros_like(cosine).scatter_(1, labels.view(-1, 1), 1.0)
            out = cosine + target * (phi - cosine)
            if self.topk_mode != "none":
                hard = cosine * math.cos(self.topk_margin) + sine * math.sin(self.topk_margin)
                out = out + self.penalty_mask(cosine, target) * (hard - cosine)
            return out * self.scale, cosine

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if emb.dim() != 2 or emb.size(1) != self.embed_dim:
            raise ValueError(f"expected embeddings (B, {self.embed_dim}), got {tuple(emb.shape)}")
        labels = labels.to(device=emb.device, dtype=torch.long).view(-1)
        if labels.numel() != emb.size(0):
            raise ValueError(f"{labels.numel()} labels for {emb.size(0)} embeddings")
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f"labels must lie in [0, {self.num_classes}), "
                f"got {labels.min().item()}..{labels.max().item()}"
            )
        logits, cosine = self.logits(emb, labels)
        with _float32(logits.device):
            loss = F.cross_entropy(logits, labels, weight=self.class_weight)
        accuracy = (cosine.detach().argmax(dim=1) == labels).float().mean()
        return loss, accuracy


class KDHeads(nn.Module):
    """K prediction heads Linear(Hs, Ht) -> GELU -> Linear(Ht, Ht), all reading the student's last state.

    forward(student_last (B, T, Hs), or all states (B, L+1, T, Hs) whose last is used) -> (B, K, T, Ht).
    """

    def __init__(self, student_dim: int, teacher_dim: int, num_heads: int = 3):
        super().__init__()
        if num_heads < 1:
            raise ValueError(f"num_heads must be >= 1, got {num_heads}")
        self.student_dim = int(student_dim)
        self.teacher_dim = int(teacher_dim)
        self.num_heads = int(num_heads)
        self.heads = nn.ModuleList(
            nn.Sequential(
                nn.Linear(self.student_dim, self.teacher_dim),
                nn.GELU(),
                nn.Linear(self.teacher_dim, self.teacher_dim),
            )
            for _ in range(self.num_heads)
        )

    def forward(self, student: torch.Tensor) -> torch.Tensor:
        if student.dim() == 4:
            student = student[:, -1]
        if student.dim() != 3 or student.size(-1) != self.student_dim:
            raise ValueError(
                f"expected the student's last hidden state (B, T, {self.student_dim}), "
                f"got {tuple(student.shape)}"
            )
        return torch.stack([head(student) for head in self.heads], dim=1)


def kd_loss(
    pred: torch.Tensor, target: torch.Tensor, cos_lambda: float = 1.0, cos_reduction: str = "sum"
) -> torch.Tensor:
    """DistilHuBERT loss between head predictions and teacher layers, both (B, K, T, H) -> scalar.

    Per head: L1 = mean |p - t| over T*H; C = log sigmoid(cos(p_t, t_t)) summed ('sum', official) or averaged
    ('mean', DistilHuBERT) over frames. Result: mean over the batch of sum over heads (L1 - cos_lambda * C).
    """
    if cos_reduction not in COS_REDUCTIONS:
        raise ValueError(f"cos_reduction must be one of {COS_REDUCTIONS}, got {cos_reduction!r}")
    if pred.dim() != 4 or pred.shape != target.shape:
        raise ValueError(
            f"pred and target must both be (B, K, T, H); got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    with _float32(pred.device):
        pred = pred.float()
        target = target.to(device=pred.device, dtype=torch.float32)
        l1 = (pred - target).abs().mean(dim=(2, 3))  # (B, K)
        log_sig = F.logsigmoid(F.cosine_similarity(pred, target, dim=-1))  # (B, K, T)
        cos_term = log_sig.sum(dim=2) if cos_reduction == "sum" else log_sig.mean(dim=2)
        return (l1 - cos_lambda * cos_term).sum(dim=1).mean()


class KDLoss(nn.Module):
    """KDHeads + kd_loss: forward(student_last (B, T, Hs), teacher_targets (B, K, T, Ht)) -> scalar loss."""

    def __init__(
        self,
        student_dim: int,
        teacher_dim: int,
        num_heads: int = 3,
        cos_lambda: float = 1.0,
        cos_reduction: str = "sum",
    ):
        super().__init__()
        if cos_reduction not in COS_REDUCTIONS:
            raise ValueError(f"cos_reduction must be one of {COS_REDUCTIONS}, got {cos_reduction!r}")
        self.heads = KDHeads(student_dim, teacher_dim, num_heads)
        self.cos_lambda = float(cos_lambda)
        self.cos_reduction = cos_reduction

    @property
    def num_heads(self) -> int:
        return self.heads.num_heads

    def extra_repr(self) -> str:
        return f"cos_lambda={self.cos_lambda}, cos_reduction={self.cos_reduction!r}"

    def forward(self, student_last: torch.Tensor, teacher_targets: torch.Tensor) -> torch.Tensor:
        pred = self.heads(student_last)
        if teacher_targets.dim() != 4 or teacher_targets.size(1) != self.num_heads:
            raise ValueError(
                f"expected teacher targets (B, {self.num_heads}, T, H), got {tuple(teacher_targets.shape)}"
            )
        if teacher_targets.shape[2] != pred.shape[2]:
            raise ValueError(
                f"student has {pred.shape[2]} frames but the teacher {teacher_targets.shape[2]}: "
                "feed both the same crop length"
            )
        return kd_loss(pred, teacher_targets, self.cos_lambda, self.cos_reduction)
