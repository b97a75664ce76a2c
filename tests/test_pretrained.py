"""Loading ImageNet InPlace-ABN checkpoints (mapillary model-zoo layout) into a body (docs/method.md, "Model")."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from wilss.errors import WilssError
from wilss.models import build_model, load_imagenet_weights
from wilss.models.norm import build_norm
from wilss.models.pretrained import file_md5
from wilss.models.resnet import ResNet


def _body() -> ResNet:
    return ResNet("resnet18", build_norm("native", False), output_stride=16)


def _imagenet_checkpoint(path: Path, drop_num_batches_tracked: bool = False) -> dict[str, torch.Tensor]:
    """Write a file shaped like resnet101_iabn_sync.pth.tar (DataParallel prefix, 1000-way classifier, training
    metadata) from a resnet18 body filled with random values; return the body's expected state."""
    torch.manual_seed(3)
    expected = {k: (torch.randint(0, 100, v.shape) if v.dtype == torch.long else torch.randn(v.shape))
                for k, v in _body().state_dict().items()}
    state = OrderedDict((f"module.{k}", v) for k, v in expected.items()
                        if not (drop_num_batches_tracked and k.endswith("num_batches_tracked")))
    state["module.classifier.fc.weight"] = torch.randn(1000, 512)
    state["module.classifier.fc.bias"] = torch.randn(1000)
    torch.save({"epoch": 90, "arch": "resnet18", "state_dict": state, "best_prec1": 71.5,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "nesterov": True, "params": [0, 1]}]}}, path)
    return expected


def test_loads_every_tensor(tmp_path: Path) -> None:
    path = tmp_path / "imagenet.pth.tar"
    expected = _imagenet_checkpoint(path)
    body = _body()
    load_imagenet_weights(body, path, expected_md5=None)
    loaded = body.state_dict()
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


def test_old_checkpoint_without_num_batches_tracked(tmp_path: Path) -> None:
    path = tmp_path / "old.pth.tar"
    expected = _imagenet_checkpoint(path, drop_num_batches_tracked=True)
    body = _body()
    load_imagenet_weights(body, path, expected_md5=None)
    assert torch.equal(body.mod1.bn1.weight, expected["mod1.bn1.weight"])
    assert body.mod1.bn1.num_batches_tracked.item() == 0


def test_md5(tmp_path: Path) -> None:
    path = tmp_path / "imagenet.pth.tar"
    _imagenet_checkpoint(path)
    load_imagenet_weights(_body(), path, expected_md5=file_md5(path).upper())
    with pytest.raises(WilssError, match="md5"):
        load_imagenet_weights(_body(), path, expected_md5="0" * 32)


def test_missing_file_names_path_and_right_download(tmp_path: Path) -> None:
    path = tmp_path / "pretrained" / "resnet101_iabn_sync.pth.tar"
    with pytest.raises(WilssError) as info:
        load_imagenet_weights(_body(), path, expected_md5=None)
    message = str(info.value)
    assert str(path) in message
    assert "1552ae0f3d610108df702135f56bd27b" in message and "ResNeXt" in message


def test_wrong_backbone_lists_keys(tmp_path: Path) -> None:
    path = tmp_path / "imagenet.pth.tar"
    _imagenet_checkpoint(path)
    body = ResNet("resnet50", build_norm("native", False))
    with pytest.raises(WilssError, match="wrong backbone"):
        load_imagenet_weights(body, path, expected_md5=None)
    state = torch.load(path, weights_only=True)
    del state["state_dict"]["module.mod5.block2.convs.conv2.weight"]
    state["state_dict"]["module.extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(WilssError, match=r"mod5\.block2\.convs\.conv2\.weight.*extra\.weight"):
        load_imagenet_weights(_body(), path, expected_md5=None)


class _Opaque:  # a non-tensor Python object, as an old training script might pickle
    pass


def test_untrusted_objects_need_opt_in(tmp_path: Path) -> None:
    path = tmp_path / "pickled.pth.tar"
    expected = _imagenet_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["extra"] = _Opaque()
    torch.save(checkpoint, path)
    with pytest.raises(WilssError, match="pretrained_trusted"):
        load_imagenet_weights(_body(), path, expected_md5=None)
    body = _body()
    load_imagenet_weights(body, path, expected_md5=None, trusted=True)
    assert torch.equal(body.mod5.block2.convs.conv2.weight, expected["mod5.block2.convs.conv2.weight"])


def test_html_page_instead_of_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "resnet101_iabn_sync.pth.tar"
    path.write_text("<!DOCTYPE html><html>Google Drive - Virus scan warning</html>")
    with pytest.raises(WilssError, match="web page"):
        load_imagenet_weights(_body(), path, expected_md5=None)


def test_build_model_with_pretrained(tmp_path: Path) -> None:
    path = tmp_path / "imagenet.pth.tar"
    expected = _imagenet_checkpoint(path)
    model = build_model("resnet18", [16, 5], pretrained=str(path), pretrained_md5=file_md5(path))
    assert torch.equal(model.body.mod2.block1.convs.conv1.weight, expected["mod2.block1.convs.conv1.weight"])
