"""Learning rates of every parameter group at the iterations of docs/method.md, "Reference numbers" (VOC 15-5 step 1, batch 24)."""

from types import SimpleNamespace

import pytest
import torch

from wilss.config import load_config
from wilss.engine.optim import build_optimizer, build_schedule

ITERS_PER_EPOCH, EPOCHS, PSEUDO_EP = 89, 40, 5  # 2,145 images // 24


def groups(phase):
    param = lambda: [torch.nn.Parameter(torch.zeros(1))]  # noqa: E731
    return [{"name": "body", "params": param(), "lr": phase.lr},
            {"name": "head", "params": param(), "lr": phase.lr * phase.lr_head},
            {"name": "classifier", "params": param(), "lr": phase.lr * phase.lr_head},
            {"name": "localizer", "params": param(), "lr": phase.lr_localizer}]


@pytest.mark.parametrize("policy", ["constant_then_poly", "warmup"])
def test_step1_lr_of_every_group_follows_the_reference(policy):
    cfg = load_config(["step=1", f"optim.incremental.policy={policy}"])
    phase = cfg.optim.incremental
    optimizer = build_optimizer(groups(phase), cfg.optim)
    max_iters = EPOCHS * ITERS_PER_EPOCH
    schedule = build_schedule(optimizer, phase.policy, max_iters, cfg.optim.poly_power,
                              cfg.method.pseudo_ep * ITERS_PER_EPOCH)
    checkpoints = {0, 1, 444, 445, 446, 1000, 3559}
    for i in range(max_iters):
        if i in checkpoints:
            factor = 1.0 if i < 445 else (1 - i / 3560) ** 0.9
            lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
            assert lrs["body"] == pytest.approx(1e-3 * factor)
            assert lrs["head"] == pytest.approx(1e-2 * factor)
            assert lrs["classifier"] == pytest.approx(1e-2 * factor)
            assert lrs["localizer"] == pytest.approx(1e-2 * factor)
        schedule.step()
    assert (1 - 445 / 3560) ** 0.9 == pytest.approx(0.887, abs=1e-3)  # the drop at the switch


def test_step0_poly_and_optimizer_settings():
    cfg = load_config([])
    phase = cfg.optim.base
    optimizer = build_optimizer(groups(SimpleNamespace(**phase, lr_localizer=0.0)), cfg.optim)
    schedule = build_schedule(optimizer, phase.policy, 351 * 30, cfg.optim.poly_power, 0)
    for _ in range(100):
        schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * (1 - 100 / 10530) ** 0.9)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(optimizer.param_groups[0]["lr"])  # lr_head 1 at step 0
    defaults = optimizer.defaults
    assert defaults["nesterov"] and defaults["momentum"] == 0.9 and defaults["weight_decay"] == 1e-4
