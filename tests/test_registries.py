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
    def __init__(self, files, resumed_after=None):
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


def test_a_resumed_steps_tensorboard_curve_has_each_iteration_once(tmp_path):
    """The interrupted run logged iterations 1-8 and saved its checkpoint after 5; the resumed run logs 6-8 again.
    TensorBoard must show each iteration once, with the resumed run's values."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = RunLayout(tmp_path).step(0)
    first = MetricLoggers(["tensorboard"], files)
    for step in range(1, 9):
        first.scalars({"loss/seg": 1.0}, step)
    first.close()
    resumed = MetricLoggers(["tensorboard"], files, resumed_after=5)
    for step in range(6, 9):
        resumed.scalars({"loss/seg": 2.0}, step)
    resumed.close()
    events = EventAccumulator(str(files.tensorboard))
    events.Reload()
    curve = [(event.step, event.value) for event in events.Scalars("loss/seg")]
    assert curve == [(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0), (5, 1.0), (6, 2.0), (7, 2.0), (8, 2.0)]
