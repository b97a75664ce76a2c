"""The fast path (bf16 autocast + channels_last) computes what the eager fp32 NCHW path computes: a few
training iterations of both, from the same weights on the same batch, give the same losses within bf16's
tolerance, for step 0 and for WILSON's step 1. Speed itself is measured by `python -m wilss.bench`, never
asserted here."""

from __future__ import annotations

import pytest
import torch

from wilss import distributed
from wilss.bench import PATHS, build_trainer, make_step0_checkpoint
from wilss.config import load_config
from wilss.models.atrous import AtrousConv2d
from wilss.models.prepack import PackedConv2d

ITERATIONS = 3


def base(tmp_path) -> list[str]:
    return ["dataset=synthetic", "model=resnet18", "model.pretrained=null", "dataset.generate.train=48",
            "dataset.generate.val=8", "dataset.generate.size=64", "dataset.crop_size=64", "dataset.crop_size_val=64",
            "train.batch_size=4", "train.num_workers=0", "train.device=cpu", "method.pseudo_ep=0",
            f"output_root={tmp_path}", f"run_dir={tmp_path / 'run'}"]


def losses_per_iteration(overrides: list[str]) -> list[dict[str, float]]:
    trainer, batch = build_trainer(load_config(overrides))
    history = []
    for _ in range(ITERATIONS):
        trainer.run_iteration(batch)
        history.append({name: float(value) for name, value in trainer.losses.items()})
    distributed.shutdown()
    return history


@pytest.mark.parametrize("step", [0, 1])
def test_fast_and_eager_paths_give_the_same_losses(tmp_path, step):
    common = base(tmp_path)
    extra = ["step=0"] if step == 0 else ["step=1", f"step_ckpt={make_step0_checkpoint(common, tmp_path)}"]
    eager = losses_per_iteration([*common, *PATHS["eager"], *extra])
    fast = losses_per_iteration([*common, *PATHS["fast"], *extra])
    assert eager[0].keys() == fast[0].keys() and len(eager[0]) >= (1 if step == 0 else 5)
    for iteration, (e, f) in enumerate(zip(eager, fast)):
        for name in e:
            # bf16 keeps 8 bits of mantissa (relative step 2^-8 ≈ 0.4 %); sums over a whole network drift more.
            assert f[name] == pytest.approx(e[name], rel=0.05, abs=2e-3), (iteration, name, e[name], f[name])
    assert eager != fast, "the two paths must really differ in arithmetic (fp32 vs bf16)"
    assert torch.get_default_dtype() == torch.float32


def test_the_fast_path_packs_the_old_model_and_trims_atrous_taps_and_the_eager_path_does_neither(tmp_path):
    common = base(tmp_path)
    step1 = ["step=1", f"step_ckpt={make_step0_checkpoint(common, tmp_path)}"]
    for path, switched_on in (("fast", True), ("eager", False)):
        trainer, _ = build_trainer(load_config([*common, *PATHS[path], *step1]))
        method = trainer.method
        packed = [m for m in method.old_model.modules() if isinstance(m, PackedConv2d)]
        assert bool(packed) == switched_on
        assert all(isinstance(m, PackedConv2d) and m.trim for m in method.old_model.head.map_convs[1:]) == switched_on
        atrous = [m for m in method.model.modules() if isinstance(m, AtrousConv2d)]
        assert len(atrous) == 3 and all(m.trim_padding_taps == switched_on for m in atrous)
    distributed.shutdown()
