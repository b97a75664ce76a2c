"""The compiled inplace_abn 1.1.0 layer and the native ABN are interchangeable (scripts/build_inplace_abn.sh)."""

from __future__ import annotations

import pytest
import torch

from wilss.models import build_model
from wilss.models.norm import ABN, build_norm
from wilss.models.wide_resnet import IdentityResidualBlock

inplace_abn = pytest.importorskip(
    "inplace_abn", reason="inplace-abn is not built here; run scripts/build_inplace_abn.sh to test it"
)


def _pair(activation: str) -> tuple[torch.nn.Module, ABN]:
    torch.manual_seed(0)
    iabn = inplace_abn.InPlaceABN(6, activation=activation, activation_param=0.01)
    native = ABN(6, activation=activation)
    with torch.no_grad():
        iabn.weight.copy_(torch.randn(6))  # negative entries exercise the |γ| + ε scale
        iabn.bias.copy_(torch.randn(6))
        iabn.running_mean.copy_(torch.randn(6))
        iabn.running_var.copy_(torch.rand(6) + 0.5)
    native.load_state_dict(iabn.state_dict())
    return iabn, native


@pytest.mark.parametrize("activation", ["leaky_relu", "identity"])
@pytest.mark.parametrize("training", [True, False])
def test_layer_matches_native(activation: str, training: bool) -> None:
    iabn, native = _pair(activation)
    iabn.train(training)
    native.train(training)
    x = torch.randn(4, 6, 7, 7) * 3 + 1
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1 = iabn(x1 * 1)  # InPlace-ABN overwrites its input, which must not be a leaf
    y2 = native(x2)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=0)
    dy = torch.randn_like(y1)
    y1.backward(dy)
    y2.backward(dy)
    for a, b in ((x1.grad, x2.grad), (iabn.weight.grad, native.weight.grad), (iabn.bias.grad, native.bias.grad)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for key, value in iabn.state_dict().items():
        torch.testing.assert_close(native.state_dict()[key], value, atol=1e-6, rtol=1e-6)


def test_gamma_gradient_at_zero_matches_native() -> None:
    # At γ = ±0 InPlace-ABN passes the upstream value on (abs() alone would give 0); the native layer does the same.
    iabn, native = _pair("leaky_relu")
    with torch.no_grad():
        for layer in (iabn, native):
            layer.weight[:2] = torch.tensor([0.0, -0.0])
    x = torch.randn(4, 6, 7, 7)
    dy = torch.randn_like(x)
    iabn(x.clone().requires_grad_() * 1).backward(dy)  # InPlace-ABN overwrites its input: not a leaf
    native(x.clone()).backward(dy)
    assert native.weight.grad[:2].abs().min() > 0
    # InPlace-ABN recomputes the normalised input from its output, (y - β) / (|γ| + ε): at γ = 0 that divides
    # y's float32 rounding by ε = 1e-5, so its own gradient there is only good to about 1e-3 (native is exact).
    torch.testing.assert_close(native.weight.grad[:2], iabn.weight.grad[:2], atol=0, rtol=1e-2)
    torch.testing.assert_close(native.weight.grad[2:], iabn.weight.grad[2:], atol=1e-5, rtol=1e-5)


def test_same_state_dict_keys_and_version() -> None:
    iabn, native = _pair("leaky_relu")
    assert list(iabn.state_dict()) == list(native.state_dict())
    assert ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"] == list(native.state_dict())
    assert iabn.state_dict()._metadata[""]["version"] == native.state_dict()._metadata[""]["version"] == 2


def _assert_close(actual: torch.Tensor, expected: torch.Tensor, tol: float, name: str = "") -> None:
    error = (actual - expected).abs().max().item()
    assert error <= tol * max(expected.abs().max().item(), 1e-12), f"{name}: max error {error}"


@pytest.mark.parametrize("backbone,size", [("resnet18", 32), ("wideresnet38", 16)])
def test_models_interchangeable(backbone: str, size: int) -> None:
    torch.manual_seed(0)
    native = build_model(backbone, [16, 5], output_stride=8, norm="native")
    compiled = build_model(backbone, [16, 5], output_stride=8, norm="inplace_abn")
    assert any(isinstance(m, inplace_abn.InPlaceABN) for m in compiled.modules())
    compiled.load_state_dict(native.state_dict(), strict=True)
    native.load_state_dict(compiled.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(compiled.eval()(x)[0], native.eval()(x)[0], atol=1e-4, rtol=1e-4)


def _train_step(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(1)  # same Dropout2d masks
    out = model(x.clone())  # a pre-activation block's compiled bn1 overwrites its input
    out = out[0] if isinstance(out, tuple) else out
    out.square().mean().backward()
    return out.detach()


@pytest.mark.parametrize("part", ["resnet18", "identity_block", "identity_block_proj", "bottleneck_dropout"])
def test_training_step_matches_native(part: str) -> None:
    """Same loss, gradients and running stats in training mode: covers the in-place autograd of the compiled layer
    through every block type. In float64: with tiny inputs the gradients are sums of nearly cancelling terms, and
    float32 rounding (float accumulators in torch's batch norm, double in InPlace-ABN's CPU kernel) would dominate."""
    def make(norm: str) -> torch.nn.Module:
        torch.manual_seed(0)
        norm_act = build_norm(norm, False)
        if part == "resnet18":
            return build_model("resnet18", [16, 5], output_stride=8, norm=norm)
        if part == "identity_block":
            return IdentityResidualBlock(16, (16, 16), norm_act)
        if part == "identity_block_proj":
            return IdentityResidualBlock(8, (16, 16), norm_act, stride=2)
        return IdentityResidualBlock(16, (8, 16, 32), norm_act, dilation=4, dropout=0.5)

    native, compiled = make("native").double().train(), make("inplace_abn").double().train()
    compiled.load_state_dict(native.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32) if part == "resnet18" else torch.randn(2, 8 if part.endswith("proj") else 16, 9, 9)
    x = x.double()
    _assert_close(_train_step(compiled, x), _train_step(native, x), 1e-7, "output")
    for (name, p_native), p_compiled in zip(native.named_parameters(), compiled.parameters()):
        _assert_close(p_compiled.grad, p_native.grad, 1e-6, name)
    for (name, b_native), b_compiled in zip(native.named_buffers(), compiled.buffers()):
        _assert_close(b_compiled.double(), b_native.double(), 1e-7, name)
