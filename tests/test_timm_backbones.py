"""Backbones of the timm library through the registry: a timm ResNet (features_only, output stride 16) and a
ViT (patch tokens as the feature map), each trained from scratch by the real command for a few iterations on
the synthetic data: step 0 from pixel labels, then WILSON's step 1 with the frozen step-0 model."""

from __future__ import annotations

import json

import pytest

from conftest import REPO, run_cli

pytest.importorskip("timm", reason="the timm backbones need the optional extra: pip install 'wilss[timm]'")

TINY = ["experiment=demo", "dataset.generate.train=48", "dataset.generate.val=12", "dataset.generate.size=64",
        "dataset.crop_size=64", "dataset.crop_size_val=64", "train.batch_size=4", "train.num_workers=0",
        "train.device=cpu", "train.epochs_base=1", "train.epochs_incremental=1", "train.max_iters_per_epoch=2",
        "method.pseudo_ep=0", "eval.batch_size=6", "train.loggers=[]"]

BACKBONES = {
    "timm_resnet": ["model=timm_resnet50", "model.options.timm_model=resnet18"],
    "timm_vit": ["model=vit_small_dinov2", "model.options.timm_model=vit_tiny_patch16_224", "model.output_stride=16",
                 "model.options.img_size=64"],
}


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_a_timm_backbone_trains_both_steps_from_scratch(backbone, tmp_path):
    run = tmp_path / "run"
    result = run_cli(["wilss", "chain", *TINY, *BACKBONES[backbone], f"output_root={tmp_path}", f"run_dir={run}"],
                     cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    for step in (0, 1):
        meta = json.loads((run / f"step{step}" / "checkpoints" / "final.json").read_text())
        assert meta["config"]["model"]["backbone"] == backbone
        assert meta["progress"]["global_iteration"] == 2
        assert json.loads((run / f"step{step}" / "results.json").read_text())["sets"]["val"]["miou_all"] >= 0
    losses = [line for line in (run / "step1" / "train.log").read_text().splitlines() if " seg " in line]
    assert losses and "nan" not in " ".join(losses), losses


def test_the_shipped_timm_configs_compose_with_their_own_output_strides():
    """The ViT's stride is its patch size (14), the ResNet's may be 32: the value rules leave strides to the
    backbone, which checks its own."""
    from wilss.config import load_config

    assert load_config(["model=vit_small_dinov2"]).model.output_stride == 14
    assert load_config(["model=timm_resnet50", "model.output_stride=32"]).model.output_stride == 32


def test_doctor_sizes_the_checkpoints_of_a_timm_model():
    """The free-space check builds the model on the meta device with its options (the timm model's name)."""
    from wilss.config import load_config
    from wilss.preflight.outputs import model_bytes

    cfg = load_config(["model=timm_resnet50", "model.options.timm_model=resnet18"])
    assert 40e6 < model_bytes(cfg) < 80e6  # ResNet-18 (11.7 M parameters) and the DeepLab-V3 head, in fp32
