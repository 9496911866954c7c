import math

import pytest
import torch
import torch.nn.functional as F

from ssrfnet.losses import AAMSoftmax, KDHeads, KDLoss, kd_loss


def _unit_weights(angles_deg):
    """Class weights on the unit circle at the given angles (degrees)."""
    rad = torch.tensor(angles_deg, dtype=torch.float64) * math.pi / 180
    return torch.stack([rad.cos(), rad.sin()], dim=1).float()


def _set_weights(loss, weights):
    with torch.no_grad():
        loss.weight.copy_(weights)


def test_aam_hand_computed_no_topk():
    m, s = 0.2, 30.0
    aam = AAMSoftmax(2, 3, margin=m, scale=s, topk_mode="none")
    _set_weights(aam, _unit_weights([0.0, 90.0, 180.0]))
    emb = torch.tensor([[2.0, 0.0]])  # angle 0: cos = (1, 0, -1)
    loss, acc = aam(emb, torch.tensor([0]))
    logits = torch.tensor([s * math.cos(0 + m), 0.0, -s])
    expected = -torch.log_softmax(logits, 0)[0]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert acc.item() == 1.0


def test_aam_hand_computed_topk_fixed():
    m, mp, s = 0.2, 0.1, 30.0
    aam = AAMSoftmax(2, 4, margin=m, scale=s, topk=1, topk_margin=mp)
    angles = [0.0, 60.0, 120.0, 200.0]
    _set_weights(aam, _unit_weights(angles))
    emb = torch.tensor([[math.cos(math.radians(10)), math.sin(math.radians(10))]])
    theta = [math.radians(abs(10 - a)) for a in angles]
    theta[3] = math.radians(170)
    # target 0 at 10 deg; the hardest impostor is class 1 at 50 deg, the others keep cos.
    logits = s * torch.tensor(
        [math.cos(theta[0] + m), math.cos(theta[1] - mp), math.cos(theta[2]), math.cos(theta[3])]
    )
    expected = F.cross_entropy(logits[None], torch.tensor([0]))
    loss, acc = aam(emb, torch.tensor([0]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert acc.item() == 1.0
    # with a margin on the hardest impostor the loss is larger than without the term
    plain = AAMSoftmax(2, 4, margin=m, scale=s, topk_mode="none")
    _set_weights(plain, _unit_weights(angles))
    assert loss.item() > plain(emb, torch.tensor([0]))[0].item()


def test_aam_official_topk_picks_negative_target_fixed_never_does():
    angles = [180.0, 60.0, 90.0, 100.0]  # target 0 points away from the embedding: cos = -1
    emb = torch.tensor([[1.0, 0.0]])
    label = torch.tensor([0])
    official = AAMSoftmax(2, 4, topk=2, topk_mode="official")
    fixed = AAMSoftmax(2, 4, topk=2, topk_mode="fixed")
    for aam in (official, fixed):
        _set_weights(aam, _unit_weights(angles))
    target = torch.zeros(1, 4).scatter_(1, label[:, None], 1.0)
    cosine = official.cosine(emb)
    assert cosine[0, 0].item() == pytest.approx(-1.0, abs=1e-6)
    picked_official = official.penalty_mask(cosine, target)
    picked_fixed = fixed.penalty_mask(cosine, target)
    assert picked_official[0, 0] == 1  # the bug: -2 * cos = 2 ranks first
    assert picked_official[0].sum() == 2 and picked_official[0, 1] == 1
    assert picked_fixed[0, 0] == 0
    assert picked_fixed[0].tolist() == [0.0, 1.0, 1.0, 0.0]
    # official logit for a selected target: phi + penalty - cos (the additive combination)
    logits, cos = official.logits(emb, label)
    c = cos[0, 0].item()
    sn = math.sqrt(max(0.0, 1 - c * c))
    phi = c * math.cos(0.2) - sn * math.sin(0.2)
    pen = c * math.cos(0.1) + sn * math.sin(0.1)
    assert logits[0, 0].item() == pytest.approx(30 * (phi + pen - c), abs=1e-4)
    # with a positive target cosine both modes agree
    _set_weights(official, _unit_weights([10.0, 60.0, 90.0, 100.0]))
    _set_weights(fixed, _unit_weights([10.0, 60.0, 90.0, 100.0]))
    assert torch.allclose(official(emb, label)[0], fixed(emb, label)[0])


def test_aam_fixed_never_selects_target_random():
    torch.manual_seed(0)
    aam = AAMSoftmax(8, 20, topk=5)
    emb = torch.randn(64, 8)
    labels = torch.randint(0, 20, (64,))
    cosine = aam.cosine(emb)
    target = torch.zeros_like(cosine).scatter_(1, labels[:, None], 1.0)
    mask = aam.penalty_mask(cosine, target)
    assert (mask * target).sum() == 0
    assert (mask.sum(1) == 5).all()


def test_aam_class_weights():
    counts = [1, 3]
    aam = AAMSoftmax(2, 2, class_counts=counts, topk_mode="none")
    assert aam.class_weight.tolist() == pytest.approx([4.0, 4.0 / 3.0])
    _set_weights(aam, _unit_weights([0.0, 90.0]))
    emb = torch.tensor([[1.0, 0.2], [0.1, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    loss, _ = aam(emb, labels)
    logits, _ = aam.logits(emb, labels)
    per = F.cross_entropy(logits, labels, reduction="none")
    w = torch.tensor([4.0, 4 / 3, 4 / 3])
    assert loss.item() == pytest.approx(((per * w).sum() / w.sum()).item(), rel=1e-5)
    unweighted = AAMSoftmax(2, 2, topk_mode="none")
    _set_weights(unweighted, _unit_weights([0.0, 90.0]))
    assert unweighted(emb, labels)[0].item() == pytest.approx(per.mean().item(), rel=1e-5)
    with pytest.raises(ValueError):
        AAMSoftmax(2, 3, class_counts=[1, 2])


def test_aam_accuracy_and_gradients():
    torch.manual_seed(1)
    aam = AAMSoftmax(16, 10)
    emb = torch.randn(12, 16, requires_grad=True)
    labels = torch.randint(0, 10, (12,))
    loss, acc = aam(emb, labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert aam.weight.grad is not None and aam.weight.grad.abs().sum() > 0
    expected_acc = (aam.cosine(emb).argmax(1) == labels).float().mean()
    assert acc.item() == pytest.approx(expected_acc.item())
    assert not acc.requires_grad
    with pytest.raises(ValueError):
        aam(emb, torch.full((12,), 10))
    with pytest.raises(ValueError):
        AAMSoftmax(4, 4, topk_mode="bogus")


def test_kd_heads_shape_and_last_state():
    heads = KDHeads(16, 24, num_heads=3)
    x = torch.randn(2, 5, 7, 16)
    out = heads(x)
    assert out.shape == (2, 3, 7, 24)
    assert torch.equal(out, heads(x[:, -1]))


def test_kd_loss_floor_when_pred_equals_target():
    t = torch.randn(2, 3, 149, 32)
    loss = kd_loss(t.clone(), t, cos_lambda=1.0, cos_reduction="sum")
    floor = 3 * 149 * -math.log(1 / (1 + math.exp(-1)))
    assert loss.item() == pytest.approx(floor, rel=1e-5)
    assert floor == pytest.approx(140.0, abs=0.1)
    mean_loss = kd_loss(t.clone(), t, cos_reduction="mean")
    assert mean_loss.item() == pytest.approx(3 * -math.log(1 / (1 + math.exp(-1))), rel=1e-5)


def test_kd_loss_hand_computed_and_mean_reduction():
    torch.manual_seed(2)
    p = torch.randn(2, 2, 4, 3)
    t = torch.randn(2, 2, 4, 3)
    lam = 0.5
    total = 0.0
    for b in range(2):
        for k in range(2):
            l1 = (p[b, k] - t[b, k]).abs().mean()
            c = F.logsigmoid(F.cosine_similarity(p[b, k], t[b, k], dim=-1))
            total += (l1 - lam * c.mean()).item()
    assert kd_loss(p, t, lam, "mean").item() == pytest.approx(total / 2, rel=1e-5)
    with pytest.raises(ValueError):
        kd_loss(p, t, cos_reduction="max")
    with pytest.raises(ValueError):
        kd_loss(p, t[:, :1])


def test_kd_module_official_scale_and_grad():
    torch.manual_seed(3)
    kd = KDLoss(64, 64, num_heads=3)
    student = torch.randn(2, 149, 64, requires_grad=True)
    teacher = torch.randn(2, 3, 149, 64)
    loss = kd(student, teacher)
    # random init: cos ~ 0 so each frame costs ~log 2; 3 heads x (L1 + 149 * 0.69)
    assert 3 * 149 * 0.6 < loss.item() < 3 * (149 * 0.8 + 2)
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert all(p.grad is not None for p in kd.parameters())
    with pytest.raises(ValueError):
        kd(student, teacher[:, :, :100])
