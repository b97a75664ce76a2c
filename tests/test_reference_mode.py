"""`mode=reference` computes what the original code computes: PyTorch's own conv initialisation for bodies trained
without ImageNet weights, and a WILSON iteration whose arithmetic is the float64 computation's up to float32
rounding, closer to it than the fast path's."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from wilss import distributed
from wilss.bench import build_trainer, make_step0_checkpoint
from wilss.config import load_config
from wilss.engine.runtime import PLAIN_CPU
from wilss.spec import resolve
from wilss.train import build_step_model


def base(tmp_path) -> list[str]:
    return ["dataset=synthetic", "model=resnet18", "dataset.generate.train=16", "dataset.generate.val=4",
            "dataset.generate.size=64", "dataset.crop_size=64", "dataset.crop_size_val=64", "train.batch_size=4",
            "train.num_workers=0", "train.device=cpu", "method.pseudo_ep=0", f"output_root={tmp_path}",
            f"run_dir={tmp_path / 'run'}"]


def body_convs(backbone: str, mode: str) -> list[nn.Conv2d]:
    cfg = load_config([f"mode={mode}", "dataset=synthetic", f"model={backbone}", "step=0"])
    model = build_step_model(resolve(cfg).current.model, PLAIN_CPU)
    return [m for m in model.body.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
def test_reference_mode_keeps_nn_conv2ds_initialisation_per_layer(backbone):
    torch.manual_seed(0)
    for reference, default in zip(body_convs(backbone, "reference"), body_convs(backbone, "default")):
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(reference.weight)
        # nn.Conv2d's own draw: Kaiming-uniform with a = √5, i.e. U(±1/√fan_in), standard deviation 1/√(3·fan_in).
        bound = 1 / math.sqrt(fan_in)
        weight = reference.weight.detach()
        assert weight.abs().max() <= bound
        assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05), reference
        # The default mode's He-normal (fan-out, leaky-ReLU 0.01) draws another scale for the same layer.
        he = nn.init.calculate_gain("leaky_relu", 0.01) / math.sqrt(fan_out)
        assert default.weight.detach().std().item() == pytest.approx(he, rel=0.05), default


def one_iteration(trainer, batch, start: dict[str, dict]) -> dict[str, torch.Tensor]:
    """From the weights `start`, one training iteration; returns the update of every parameter (float64)."""
    modules = trainer.method.modules()
    for name, module in modules.items():
        module.load_state_dict(start[name])
    trainer.run_iteration(batch)
    return {f"{name}.{key}": value.detach().double() - start[name][key].double()
            for name, module in modules.items() for key, value in module.named_parameters()}


def relative_error(update: dict[str, torch.Tensor], exact: dict[str, torch.Tensor]) -> float:
    difference = torch.cat([(update[k] - exact[k]).flatten() for k in exact])
    return (difference.norm() / torch.cat([v.flatten() for v in exact.values()]).norm()).item()


def iteration_errors(common: list[str], step1: list[str], tmp_path, seed: int) -> dict[str, float]:
    """For the batch and weights that `seed` draws: the relative error of one WILSON iteration in reference mode and
    in the default mode (bf16), each against the same iteration computed in float64."""
    seeded = [*step1, f"seed={seed}"]
    # The float64 computation: reference mode's trainer, every module and the batch in float64.
    exact_trainer, batch = build_trainer(load_config([*common, *seeded]))
    method = exact_trainer.method
    for module in (method.model, method.localizer, method.old_model):
        module.double()
    start = {name: {k: v.clone() for k, v in module.state_dict().items()} for name, module in method.modules().items()}
    exact = one_iteration(exact_trainer, batch | {"image": batch["image"].double()}, start)
    assert set(exact_trainer.losses) == {"cls", "loc", "enc", "seg", "sss", "total"}  # every loss, PAMR included
    errors = {}
    # the fast path in bf16 whatever `auto` picks on this CPU (fp32 where the CPU has no bf16 instructions)
    for mode, precision in (("reference", []), ("default", ["train.precision=bf16"])):
        trainer, _ = build_trainer(load_config([*base(tmp_path), f"mode={mode}", *precision, *seeded]))
        errors[mode] = relative_error(one_iteration(trainer, batch, start), exact)
    distributed.shutdown()
    return errors


def test_a_wilson_iteration_in_reference_mode_is_the_float64_one_to_float32_rounding(tmp_path):
    common = [*base(tmp_path), "mode=reference"]
    step1 = ["step=1", f"step_ckpt={make_step0_checkpoint(common, tmp_path)}"]
    runs = [iteration_errors(common, step1, tmp_path, seed) for seed in (0, 1, 2)]
    reference, default = (sorted(run[mode] for run in runs)[1] for mode in ("reference", "default"))
    # Tolerance: 1e-4 of the update's norm. float32 keeps 24 bits (6e-8), but the norm layers' γ gradients are
    # sums that nearly cancel, so the update carries ~2e-5 (measured); the fast path's bf16 carries ~0.2.
    # The median of three batches: WILSON binarises scores (the per-pixel maximum, the pseudo-label threshold), and a
    # pixel at a tie may fall the other way in float32 than in float64 on some CPU's kernels. That is one discrete
    # decision, not rounding; it moved one batch's error to 3e-3 on the CI machine (2e-5 here, same code).
    assert reference < 1e-4, runs
    assert default > 10 * reference, f"the fast path (bf16) must be the less exact one: {runs}"
