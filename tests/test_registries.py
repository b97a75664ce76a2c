"""Components chosen by name: every registry lists what exists when a name is unknown, and a new entry is one
module (here: a metric logger registered by the test itself, as a W&B or CSV sink would be)."""

from __future__ import annotations

import pytest
import torch

from wilss.config import load_config, recipe_of
from wilss.data.datasets import DATASETS
from wilss.engine.loggers import LOGGERS, MetricLoggers
from wilss.errors import WilssError
from wilss.layout import RunLayout
from wilss.methods import METHODS
from wilss.methods.pseudo_labels import PSEUDO_LABELS
from wilss.models.backbones import BACKBONES


@pytest.mark.parametrize("registry, option, known", [
    (BACKBONES, "model.backbone", "resnet101"), (METHODS, "method.name", "wilson"), (DATASETS, "dataset", "voc"),
    (PSEUDO_LABELS, "method.pseudo_labels", "localizer"), (LOGGERS, "train.loggers", "tensorboard")])
def test_an_unknown_name_names_the_option_and_the_choices(registry, option, known):
    assert known in registry.names()
    with pytest.raises(WilssError, match=f"{option}=nonesuch is not a known .*{known}"):
        registry.get("nonesuch")


def test_the_method_config_decides_what_the_step_learns_from():
    wilson, joint = load_config(["step=1"]), load_config(["step=1", "method=joint"])
    assert recipe_of(wilson).weak and recipe_of(wilson).from_previous and not recipe_of(wilson).base_recipe
    assert recipe_of(joint).seen_classes and recipe_of(joint).base_recipe and not recipe_of(joint).weak
    step0 = recipe_of(load_config(["method=joint"]))
    assert step0.method == "supervised" and not step0.seen_classes


class MemoryLogger:
    def __init__(self, files):
        self.files, self.values, self.closed = files, [], False

    def scalars(self, values, step):
        self.values.append((step, values))

    def image(self, name, image, step):
        self.values.append((step, {name: tuple(image.shape)}))

    def close(self):
        self.closed = True


def test_a_new_metric_logger_is_one_registered_class(tmp_path):
    LOGGERS.register("memory")(MemoryLogger)
    files = RunLayout(tmp_path).step(0)
    loggers = MetricLoggers(["memory", "tensorboard"], files)
    loggers.scalars({"loss/seg": 0.5, "val/miou_new": None}, step=3)
    loggers.image("panel", torch.zeros(3, 4, 4), step=3)
    loggers.close()
    memory = loggers.loggers[0]
    assert memory.values == [(3, {"loss/seg": 0.5}), (3, {"panel": (3, 4, 4)})] and memory.closed
    assert list(files.tensorboard.glob("events.out.tfevents.*"))
    assert MetricLoggers(["memory"], None).loggers == []  # ranks other than 0 log nothing

