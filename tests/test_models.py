"""Model shapes, key layout, native ABN semantics and the head's eval pooling (docs/method.md, "Model")."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wilss.errors import WilssError
from wilss.models import build_model
from wilss.models.deeplab import DeeplabV3
from wilss.models.norm import ABN, build_norm

X = torch.randn(2, 3, 64, 64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("output_stride", [16, 8])
def test_resnet18_shapes(output_stride: int) -> None:
    model = build_model("resnet18", [16, 5], output_stride=output_stride)
    logits, feats = model(X)
    size = 64 // output_stride
    assert logits.shape == (2, 21, 64, 64)
    assert feats["body"].shape == (2, 512, size, size)
    assert feats["pre_logits"].shape == (2, 256, size, size)
    assert model(X, interpolate=False)[0].shape == (2, 21, size, size)


def test_resnet101_shape() -> None:
    model = build_model("resnet101", [16, 5]).eval()
    with torch.no_grad():
        logits, feats = model(X[:1, :, :32, :32])
    assert logits.shape == (1, 21, 32, 32)
    assert feats["body"].shape == (1, 2048, 2, 2)


def test_wideresnet38_shape_and_forced_output_stride() -> None:
    with pytest.warns(UserWarning, match="output stride 8"):
        model = build_model("wideresnet38", [16, 5], output_stride=16).eval()
    with torch.no_grad():
        logits, feats = model(X[:1, :, :32, :32])
    assert logits.shape == (1, 21, 32, 32)
    assert feats["body"].shape == (1, 4096, 4, 4)


def test_logits_concatenated_in_step_order() -> None:
    model = build_model("resnet18", [16, 5]).eval()
    assert model.num_classes == 21 and model.classes_per_step == [16, 5]
    with torch.no_grad():
        logits, feats = model(X, interpolate=False)
        parts = [cls(feats["pre_logits"]) for cls in model.cls]
    assert [p.shape[1] for p in parts] == [16, 5]
    torch.testing.assert_close(logits, torch.cat(parts, 1))


def test_state_dict_layout() -> None:
    keys = build_model("resnet18", [16, 5]).state_dict().keys()
    for key in ("body.mod1.conv1.weight", "body.mod1.bn1.running_mean", "body.mod2.block1.convs.conv1.weight",
                "body.mod3.block1.proj_conv.weight", "body.mod3.block1.proj_bn.weight",
                "body.mod5.block2.convs.bn2.num_batches_tracked", "head.map_convs.3.weight", "head.map_bn.running_var",
                "head.global_pooling_conv.weight", "head.global_pooling_bn.bias", "head.red_conv.weight",
                "head.pool_red_conv.weight", "head.red_bn.weight", "cls.0.weight", "cls.1.bias"):
        assert key in keys, key
    assert "body.mod2.block1.proj_conv.weight" not in keys  # 64 -> 64, stride 1: identity shortcut
    wide = build_model("wideresnet38", [2], output_stride=8).state_dict().keys()
    for key in ("body.mod2.block1.bn1.weight", "body.mod2.block1.convs.conv1.weight",
                "body.mod2.block1.proj_conv.weight", "body.mod7.block1.convs.bn3.running_var", "body.bn_out.weight"):
        assert key in wide, key


def test_abn_state_dict_keys() -> None:
    # The keys of inplace_abn 1.1.0's InPlaceABN (checked against the package in test_inplace_abn.py).
    assert list(ABN(4).state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


@pytest.mark.parametrize("training", [True, False])
def test_native_abn_equals_batchnorm_with_abs_weight(training: bool) -> None:
    abn = ABN(6).double().train(training)
    bn = nn.BatchNorm2d(6).double().train(training)
    with torch.no_grad():
        abn.weight.copy_(torch.randn(6))  # some negative: the scale is |γ| + ε
        abn.bias.copy_(torch.randn(6))
        abn.running_mean.copy_(torch.randn(6))
        abn.running_var.copy_(torch.rand(6) + 0.5)
        bn.weight.copy_(abn.weight.abs() + abn.eps)
        bn.bias.copy_(abn.bias)
        bn.running_mean.copy_(abn.running_mean)
        bn.running_var.copy_(abn.running_var)
    x = torch.randn(3, 6, 5, 5, dtype=torch.float64)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1 = abn(x1)
    y2 = F.leaky_relu(bn(x2), 0.01)
    torch.testing.assert_close(y1, y2, atol=1e-6, rtol=0)
    dy = torch.randn_like(y1)
    y1.backward(dy)
    y2.backward(dy)
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(abn.bias.grad, bn.bias.grad, atol=1e-6, rtol=0)
    # d/dγ of |γ| + ε = sign(γ)
    torch.testing.assert_close(abn.weight.grad, bn.weight.grad * abn.weight.sign(), atol=1e-6, rtol=0)
    torch.testing.assert_close(abn.running_mean, bn.running_mean)
    torch.testing.assert_close(abn.running_var, bn.running_var)


def inplace_abn_weight_grad_float64(x, weight, bias, eps, activation, upstream):
    """dL/dγ of InPlace-ABN in float64, written out: Σ x̂·dy' over batch and space (dy' = the upstream value through
    the activation), negated only where γ < 0 (inplace_abn's `dweight[weight < 0] *= -1`, so +1 at γ = −0 too)."""
    x, weight, bias, upstream = (t.double() for t in (x, weight, bias, upstream))
    dims = (0, 2, 3)
    mean, var = x.mean(dims, keepdim=True), x.var(dims, unbiased=False, keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + eps)
    pre = x_hat * (weight.abs() + eps).view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)
    slope = torch.where(pre > 0, 1.0, 0.01) if activation == "leaky_relu" else torch.ones_like(pre)
    d_scale = (x_hat * upstream * slope).sum(dims)
    return torch.where(weight < 0, -d_scale, d_scale)


@pytest.mark.parametrize("activation", ["leaky_relu", "identity"])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_abn_gamma_gradient_at_zero_is_inplace_abns(activation: str, memory_format: torch.memory_format) -> None:
    # A γ of exactly ±0 must keep moving: abs() alone has gradient 0 there, InPlace-ABN passes the upstream value on.
    abn = ABN(4, activation=activation).train()
    with torch.no_grad():
        abn.weight.copy_(torch.tensor([0.0, -0.0, 0.7, -0.7]))
        abn.bias.copy_(torch.randn(4))
    x = (torch.randn(3, 4, 5, 5) * 2 + 1).contiguous(memory_format=memory_format)
    upstream = torch.randn(3, 4, 5, 5)
    abn(x).backward(upstream)
    expected = inplace_abn_weight_grad_float64(x, abn.weight.detach(), abn.bias.detach(), abn.eps, activation, upstream)
    assert expected[:2].abs().min() > 0.1, "the case must exercise a non-zero upstream value at γ = ±0"
    torch.testing.assert_close(abn.weight.grad.double(), expected, rtol=1e-5, atol=1e-5)


def test_abn_identity_activation() -> None:
    abn = ABN(3, activation="identity").eval()
    with torch.no_grad():
        abn.weight.fill_(-2.0)
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(abn(x), x / (1 + 1e-5) ** 0.5 * (2 + 1e-5))


def test_abn_loads_checkpoint_without_num_batches_tracked() -> None:
    abn = ABN(4)
    state = {k: v for k, v in ABN(4).state_dict().items() if k != "num_batches_tracked"}
    abn.load_state_dict(state, strict=True)  # pre-1.0 InPlace-ABN files lack it
    assert abn.num_batches_tracked.item() == 0


def _head(pooling_size: int | None) -> DeeplabV3:
    torch.manual_seed(1)
    return DeeplabV3(8, build_norm("native", False), output_stride=16, pooling_size=pooling_size).eval()


def test_head_eval_pooling() -> None:
    x = torch.randn(1, 8, 6, 6)
    local_head, global_head = _head(3), _head(None)
    with torch.no_grad():
        out_local, out_global = local_head(x), global_head(x)
        # Hand computation of the image-pooling input: 3×3 mean at each window start (4×4 positions), then
        # replicate-padded by one pixel on every side back to 6×6.
        means = torch.stack([torch.stack([x[0, :, i:i + 3, j:j + 3].mean((1, 2)) for j in range(4)], -1)
                             for i in range(4)], -2)
        rows = torch.cat([means[:, :1], means, means[:, -1:]], 1)
        pooled = torch.cat([rows[:, :, :1], rows, rows[:, :, -1:]], 2)[None]
        h = local_head
        pool = h.pool_red_conv(h.global_pooling_bn(h.global_pooling_conv(pooled)))
        out = h.red_conv(h.map_bn(torch.cat([conv(x) for conv in h.map_convs], 1)))
        expected = h.red_bn(out + pool)
    torch.testing.assert_close(out_local, expected)
    assert not torch.allclose(out_local, out_global)
    # a window at least as large as the features is global pooling; so is training mode
    with torch.no_grad():
        torch.testing.assert_close(_head(32)(x), out_global)
        torch.testing.assert_close(_head(3).train()(x.repeat(2, 1, 1, 1)), _head(None).train()(x.repeat(2, 1, 1, 1)))


def test_head_even_pooling_window_keeps_size() -> None:
    with torch.no_grad():
        assert _head(4)(torch.randn(1, 8, 7, 9)).shape == (1, 256, 7, 9)


def test_unknown_backbone_and_norm() -> None:
    with pytest.raises(WilssError, match="model.backbone=resnet34 is not a known backbone.*resnet101, resnet18, resnet50"):
        build_model("resnet34", [16])
    with pytest.raises(WilssError, match="native, inplace_abn"):
        build_model("resnet18", [16], norm="batchnorm")
    with pytest.raises(WilssError, match="output_stride"):
        build_model("resnet18", [16], output_stride=4)


def test_channels_last_input() -> None:
    model = build_model("resnet18", [16, 5]).eval()
    with torch.no_grad():
        reference, _ = model(X)
        model = model.to(memory_format=torch.channels_last)
        logits, _ = model(X.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(logits, reference, atol=1e-4, rtol=1e-4)


def test_bf16_autocast_training_step() -> None:
    model = build_model("resnet18", [3]).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = model(X)
    logits.float().mean().backward()
    assert model.body.mod1.conv1.weight.grad is not None


def _sync_worker(rank: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)[2 * rank:2 * rank + 2 + rank].requires_grad_()  # 2 and 3 samples
    abn = ABN(3, sync=True).double().train()
    with torch.no_grad():
        abn.weight.copy_(torch.tensor([0.5, -1.0, 2.0]))
    y = abn(x)
    (y * torch.arange(y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
    torch.save({"y": y.detach(), "dx": x.grad, "dw": abn.weight.grad, "rm": abn.running_mean,
                "rv": abn.running_var}, f"{out_dir}/{rank}.pt")
    dist.destroy_process_group()


def test_native_abn_sync_across_ranks_on_cpu(tmp_path) -> None:
    """Two gloo ranks with unequal batches (2 and 3) give what one process gives on the joint batch."""
    torch.multiprocessing.spawn(_sync_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2)
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    x = torch.cat([x[0:2], x[2:5]]).requires_grad_()
    abn = ABN(3).double().train()
    with torch.no_grad():
        abn.weight.copy_(torch.tensor([0.5, -1.0, 2.0]))
    y = abn(x)
    parts = [torch.load(tmp_path / f"{r}.pt") for r in range(2)]
    weights = torch.cat([torch.arange(p["y"].numel(), dtype=y.dtype) for p in parts]).view_as(y)
    (y * weights).sum().backward()
    torch.testing.assert_close(torch.cat([p["y"] for p in parts]), y.detach())
    torch.testing.assert_close(torch.cat([p["dx"] for p in parts]), x.grad)
    torch.testing.assert_close(parts[0]["dw"] + parts[1]["dw"], abn.weight.grad)
    for p in parts:
        torch.testing.assert_close(p["rm"], abn.running_mean)
        torch.testing.assert_close(p["rv"], abn.running_var)
