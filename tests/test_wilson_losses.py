"""WILSON's losses, pseudo-labels and PAMR against deliberately naive float64 implementations of the equations
of docs/method.md, "Weak incremental steps" (explicit loops over images, classes, pixels and neighbours), plus hand-made cases."""

from __future__ import annotations

import math

import pytest
import torch

from wilss.methods import wilson_losses as W
from wilss.methods.pamr import pamr

torch.manual_seed(0)
B, C, O, H, WD = 2, 6, 4, 5, 4   # 4 old channels (bg + 3), 2 new classes


def softmax_pixel(z, b, i, j):
    exps = [math.exp(float(z[b, c, i, j])) for c in range(z.shape[1])]
    total = sum(exps)
    return [e / total for e in exps]


def bce(x, t):
    return max(x, 0) - x * t + math.log1p(math.exp(-abs(x)))


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def naive_scores(z):
    b_, c_, h, w = z.shape
    out = torch.zeros(b_, c_, dtype=torch.float64)
    for b in range(b_):
        m = [[softmax_pixel(z, b, i, j) for j in range(w)] for i in range(h)]
        for c in range(c_):
            num = sum(float(z[b, c, i, j]) * m[i][j][c] for i in range(h) for j in range(w))
            mass = sum(m[i][j][c] for i in range(h) for j in range(w))
            mean = mass / (h * w)
            out[b, c] = num / (1 + mass) + (1 - mean) ** 3 * math.log(0.01 + mean)
    return out


def naive_pseudo(z, f_old, y, alpha):
    """q̂ by loops: masked softmax, hard one-hot with ties, mix, old sigmoid, background min."""
    b_, c_, h, w = z.shape
    q_hat = torch.zeros_like(z)
    for b in range(b_):
        for i in range(h):
            for j in range(w):
                m = softmax_pixel(z, b, i, j)
                m = [m[0]] + [m[c] * float(y[b, c - 1]) for c in range(1, c_)]
                top = max(m)
                q = [alpha * (1.0 if m[c] >= top else 0.0) + (1 - alpha) * m[c] for c in range(c_)]
                for c in range(c_):
                    if c == 0:
                        q_hat[b, c, i, j] = min(sigmoid(float(f_old[b, 0, i, j])), q[0])
                    elif c < f_old.shape[1]:
                        q_hat[b, c, i, j] = sigmoid(float(f_old[b, c, i, j]))
                    else:
                        q_hat[b, c, i, j] = q[c]
    return q_hat


def naive_pamr(image, mask, iterations, dilations):
    b_, _, h, w = image.shape
    clamp = lambda v, hi: min(max(v, 0), hi - 1)  # noqa: E731 - replicate padding
    offsets = [(dy * d, dx * d) for d in dilations for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    ring = [(oy, ox) for k, (oy, ox) in enumerate(offsets) if k % 9 != 4]
    weights = torch.zeros(b_, len(ring), h, w, dtype=torch.float64)
    for b in range(b_):
        for i in range(h):
            for j in range(w):
                logits = [0.0] * len(ring)
                for ch in range(3):
                    samples = [float(image[b, ch, clamp(i + oy, h), clamp(j + ox, w)]) for oy, ox in offsets]
                    mean = sum(samples) / len(samples)
                    std = math.sqrt(sum((s - mean) ** 2 for s in samples) / (len(samples) - 1))
                    for n, (oy, ox) in enumerate(ring):
                        diff = abs(float(image[b, ch, i, j]) - float(image[b, ch, clamp(i + oy, h), clamp(j + ox, w)]))
                        logits[n] += -diff / (1e-8 + 0.1 * std) / 3
                top = max(logits)
                exps = [math.exp(v - top) for v in logits]
                for n in range(len(ring)):
                    weights[b, n, i, j] = exps[n] / sum(exps)
    mask = mask.double().clone()
    for _ in range(iterations):
        new = torch.zeros_like(mask)
        for b in range(b_):
            for c in range(mask.shape[1]):
                for i in range(h):
                    for j in range(w):
                        new[b, c, i, j] = sum(weights[b, n, i, j] * mask[b, c, clamp(i + oy, h), clamp(j + ox, w)]
                                              for n, (oy, ox) in enumerate(ring))
        mask = new
    return mask


@pytest.fixture
def tensors():
    z = torch.randn(B, C, H, WD, dtype=torch.float64) * 2
    f_old = torch.randn(B, O, H, WD, dtype=torch.float64)
    y = torch.zeros(B, C - 1, dtype=torch.float64)
    y[0, O - 1] = 1          # image 0: first new class
    y[1, O - 1:] = 1         # image 1: both new classes
    return z, f_old, y


def test_classification_loss_matches_naive(tensors):
    z, _, y = tensors
    scores = naive_scores(z)
    expected = sum(bce(float(scores[b, c]), float(y[b, c - 1])) for b in range(B) for c in range(O, C)) / (B * (C - O))
    assert torch.allclose(W.ngwp_focal_scores(z), scores, atol=1e-5)
    assert float(W.classification_loss(z, y, O)) == pytest.approx(expected, abs=1e-5)


def test_localization_prior_matches_naive(tensors):
    z, f_old, _ = tensors
    expected = sum(bce(float(z[b, c, i, j]), sigmoid(float(f_old[b, c, i, j])))
                   for b in range(B) for c in range(O) for i in range(H) for j in range(WD)) / (B * O * H * WD)
    assert float(W.localization_prior_loss(z, f_old)) == pytest.approx(expected, abs=1e-5)


def test_encoder_distillation_is_weighted_mse():
    e, e_old = torch.randn(2, 3, 4, 4, dtype=torch.float64), torch.randn(2, 3, 4, 4, dtype=torch.float64)
    expected = 2.0 * sum(float(v) ** 2 for v in (e - e_old).flatten()) / e.numel()
    assert float(W.encoder_distillation_loss(e, e_old, 2.0)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_segmentation_targets_match_naive(tensors, alpha):
    z, f_old, y = tensors
    m = W.mask_by_labels(torch.softmax(z, dim=1), y)
    assert torch.allclose(W.segmentation_targets(m, f_old, alpha), naive_pseudo(z, f_old, y, alpha), atol=1e-5)


def test_binarize_keeps_ties():
    m = torch.tensor([0.4, 0.4, 0.2], dtype=torch.float64).view(1, 3, 1, 1)
    assert W.binarize(m).flatten().tolist() == [1.0, 1.0, 0.0]


def test_absent_classes_get_no_pseudo_mass(tensors):
    z, f_old, y = tensors
    m = W.mask_by_labels(torch.softmax(z, dim=1), y)
    targets = W.segmentation_targets(m, f_old, 0.5)
    assert targets[0, O + 1].abs().sum() == 0          # image 0 lacks the second new class
    assert (targets[1, O:].flatten(1).sum(1) > 0).all()


def test_segmentation_loss_matches_naive_with_batch_weight(tensors):
    z, f_old, y = tensors
    p = torch.randn(B, C, H, WD, dtype=torch.float64)
    targets = W.segmentation_targets(W.mask_by_labels(torch.softmax(z, dim=1), y), f_old, 0.5)
    per_image = [sum(bce(float(p[b, c, i, j]), float(targets[b, c, i, j])) for c in range(C)
                     for i in range(H) for j in range(WD)) / (H * WD) for b in range(B)]
    assert float(W.segmentation_loss(p, targets, y, O)) == pytest.approx(sum(per_image) / (2 + 1e-5), abs=1e-5)
    # α = 1 with a labelled class that never wins a pixel: that image's weight drops to 0.
    hard = targets.clone()
    hard[1, O + 1] = 0
    assert float(W.segmentation_loss(p, hard, y, O)) == pytest.approx(per_image[0] / (1 + 1e-5), abs=1e-5)


def naive_localizer_targets(m, top=0.6, bkg=0.7, low=0.2):
    g = torch.zeros_like(m)
    for b in range(m.shape[0]):
        for c in range(m.shape[1]):
            peak = float(m[b, c].max())
            threshold = max((bkg if c == 0 else top) * peak, low)
            for i in range(m.shape[2]):
                for j in range(m.shape[3]):
                    g[b, c, i, j] = 1.0 if float(m[b, c, i, j]) > threshold else 0.0
        for i in range(m.shape[2]):
            for j in range(m.shape[3]):
                if g[b, :, i, j].sum() > 1:
                    g[b, :, i, j] = 0
    return g


def naive_balanced_ce(z, g, y):
    total_loss = 0.0
    for b in range(z.shape[0]):
        counts = [float(g[b, c].sum()) for c in range(z.shape[1])]
        total = sum(counts)
        present = sum(1 for v in counts if v > 0)
        if present != float(y[b].sum()) + 1:
            continue
        acc = 0.0
        for i in range(z.shape[2]):
            for j in range(z.shape[3]):
                if g[b, :, i, j].sum() < 1:
                    continue
                c = int(g[b, :, i, j].argmax())
                probs = softmax_pixel(z, b, i, j)
                acc += (total - counts[c]) / (1 + total) * -math.log(probs[c])
        total_loss += acc / (z.shape[2] * z.shape[3])
    return total_loss / z.shape[0]


def test_localizer_targets_and_balanced_loss_match_naive(tensors):
    z, _, y = tensors
    m = W.mask_by_labels(torch.softmax(z, dim=1), y)
    g = W.localizer_targets(m)
    assert torch.equal(g, naive_localizer_targets(m))
    assert float(W.balanced_localizer_loss(z, g, y)) == pytest.approx(naive_balanced_ce(z, g, y), abs=1e-5)


def test_balanced_loss_drops_images_whose_class_count_disagrees_with_labels(tensors):
    z, _, y = tensors
    g = torch.zeros(B, C, H, WD, dtype=torch.float64)
    g[:, 0, :2] = 1
    g[:, O, 2:] = 1         # both images show bg + first new class
    loss_both = W.balanced_localizer_loss(z, g, y)
    only_first = naive_balanced_ce(z, g, y)
    assert float(loss_both) == pytest.approx(only_first, abs=1e-6)
    assert only_first == pytest.approx(naive_balanced_ce(z[:1], g[:1], y[:1]) / 2, abs=1e-6)  # image 1 filtered


def test_pamr_matches_naive():
    image = torch.rand(2, 3, 6, 5, dtype=torch.float64)
    mask = torch.softmax(torch.randn(2, 3, 6, 5, dtype=torch.float64), dim=1)
    fast = pamr(image, mask, iterations=3, dilations=(1, 2))
    assert torch.allclose(fast.double(), naive_pamr(image, mask, 3, (1, 2)), atol=1e-5)


def test_pamr_on_a_constant_image_averages_neighbours_uniformly():
    image = torch.full((1, 3, 5, 5), 0.3, dtype=torch.float64)
    mask = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    mask[0, 0, 2, 2] = 1.0
    refined = pamr(image, mask, iterations=1, dilations=(1,))
    expected = torch.zeros(5, 5, dtype=torch.float64)
    expected[1:4, 1:4] = 1 / 8
    expected[2, 2] = 0.0     # the centre is not its own neighbour
    assert torch.allclose(refined[0, 0].double(), expected, atol=1e-7)
