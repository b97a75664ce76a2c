"""Components chosen by name: every registry lists what exists when a name is unknown, and a new entry is one
module (here: a metric logger registered by the test itself, as a W&B or CSV sink would be)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from wilss.config import load_config
from wilss.data.datasets import DATASETS
from wilss.engine.loggers import LOGGERS, MetricLoggers
from wilss.errors import WilssError
from wilss.layout import RunLayout
from wilss.methods import METHODS
from wilss.methods.pseudo_labels import PSEUDO_LABELS
from wilss.models.backbones import BACKBONES
from wilss.spec import resolve
from test_architecture import PACKAGE, imported_modules


@pytest.mark.parametrize("registry, option, known", [
    (BACKBONES, "model.backbone", "resnet101"), (METHODS, "method.name", "wilson"), (DATASETS, "dataset", "voc"),
    (PSEUDO_LABELS, "method.pseudo_labels", "localizer"), (LOGGERS, "train.loggers", "tensorboard")])
def test_an_unknown_name_names_the_option_and_the_choices(registry, option, known):
    assert known in registry.names()
    with pytest.raises(WilssError, match=f"{option}=nonesuch is not a known .*{known}"):
        registry.get("nonesuch")


REGISTRIES = [BACKBONES, METHODS, DATASETS, PSEUDO_LABELS, LOGGERS]


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda registry: registry.group)
def test_every_built_in_module_that_registers_is_imported_by_its_package(registry):
    """No package scan: a registry's package names its built-in modules in an import statement, which readers of
    the imports (tests/test_architecture.py) see; a module that registers but is missing there would never load."""
    folder = PACKAGE.parent / registry.package.replace(".", "/")
    name = next(name for name, value in vars(sys.modules[registry.package]).items() if value is registry)
    registering = {f"{registry.package}.{path.stem}" for path in folder.glob("*.py")
                   if path.stem != "__init__" and f"{name}.register(" in path.read_text()}
    assert registering, f"no module of {registry.package} registers in {name}"
    missing = registering - imported_modules(folder / "__init__.py")
    assert not missing, f"add {sorted(missing)} to the import in {registry.package}'s _builtin()"


def test_the_method_config_decides_what_the_step_learns_from():
    wilson, joint = (resolve(load_config(overrides)).current.recipe for overrides in (["step=1"], ["step=1", "method=joint"]))
    assert wilson.weak and wilson.from_previous and not wilson.base_recipe
    assert joint.seen_classes and joint.base_recipe and not joint.weak
    step0 = resolve(load_config(["method=joint"])).current.recipe
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


def test_a_resumed_steps_jsonl_has_each_iteration_once(tmp_path):
    """`train.loggers=[jsonl]`: one JSON object per logged iteration in <step dir>/metrics.jsonl. A fresh start
    begins the file anew; a step resumed after iteration 5 keeps lines 1-5 and writes 6-8 again, once."""
    files = RunLayout(tmp_path).step(0)
    files.dir.mkdir(parents=True)
    files.metrics_jsonl.write_text('{"step": 9, "loss/seg": 7.0}\n')  # an attempt that never saved a checkpoint
    first = MetricLoggers(["jsonl"], files)
    for step in range(1, 9):
        first.scalars({"loss/seg": 1.0, "lr": 0.01 * step, "val/miou": None}, step)
    first.image("panel", torch.zeros(3, 4, 5), step=8)
    with files.metrics_jsonl.open() as handle:  # written through before close
        assert [json.loads(line)["step"] for line in handle] == [1, 2, 3, 4, 5, 6, 7, 8, 8]
    first.close()
    with files.metrics_jsonl.open("a") as handle:
        handle.write('{"step": 9, "loss/se')  # killed mid-line
    resumed = MetricLoggers(["jsonl"], files, resumed_after=5)
    for step in range(6, 9):
        resumed.scalars({"loss/seg": 2.0}, step)
    resumed.close()
    records = [json.loads(line) for line in files.metrics_jsonl.read_text().splitlines()]
    assert records[0] == {"step": 1, "loss/seg": 1.0, "lr": 0.01}
    assert [(record["step"], record["loss/seg"]) for record in records] == [
        (1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0), (5, 1.0), (6, 2.0), (7, 2.0), (8, 2.0)]


THIRD_PARTY_LOGGER = '''
from wilss.engine.loggers import LOGGERS


class ListLogger:
    """A sink of someone else's package: it keeps what it is given."""

    def __init__(self, files, resumed_after=None):
        self.records = []

    def scalars(self, values, step):
        self.records.append((step, values))

    def image(self, name, image, step):
        pass

    def close(self):
        self.records.append("closed")


@LOGGERS.register("by_module")
class SelfRegistered(ListLogger):
    pass
'''

PROBE = '''
import sys
from pathlib import Path
from wilss.config import load_config
from wilss.engine.loggers import LOGGERS, MetricLoggers
from wilss.layout import RunLayout

cfg = load_config(["train.loggers=[by_callable,by_module]"])
loggers = MetricLoggers(list(cfg.train.loggers), RunLayout(Path(sys.argv[1])).step(0))
loggers.scalars({"loss/seg": 0.5}, 3)
loggers.close()
print([type(logger).__name__ for logger in loggers.loggers], loggers.loggers[0].records, LOGGERS.names())
'''


def write_distribution(site, entry_points: str) -> None:
    """An installed package as importlib.metadata sees it: a module plus a dist-info folder on sys.path."""
    (site / "wilss_list_logger.py").write_text(THIRD_PARTY_LOGGER)
    info = site / "wilss_list_logger-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wilss-list-logger\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def run_probe(site, run_dir) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", PROBE, str(run_dir)], capture_output=True, text=True, env=env,
                          timeout=300)


def test_a_logger_of_another_installed_package_is_found_through_its_entry_points(tmp_path):
    """No file of wilss changes: the other package declares `wilss.loggers` entry points, a callable (registered
    under the point's name) and a module (which registers itself when imported)."""
    site = tmp_path / "site"
    site.mkdir()
    write_distribution(site, "[wilss.loggers]\nby_callable = wilss_list_logger:ListLogger\n"
                             "by_module = wilss_list_logger\n")
    done = run_probe(site, tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        "['ListLogger', 'SelfRegistered'] [(3, {'loss/seg': 0.5}), 'closed'] "
        "['by_callable', 'by_module', 'jsonl', 'tensorboard']")


def test_an_entry_point_that_does_not_load_names_its_package_and_the_fix(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    write_distribution(site, "[wilss.loggers]\nby_callable = wilss_list_logger:Missing\n")
    done = run_probe(site, tmp_path / "run")
    assert done.returncode != 0
    assert ("the wilss.loggers entry point by_callable = wilss_list_logger:Missing of wilss-list-logger does not "
            "load (AttributeError") in done.stderr
    assert "pip uninstall wilss-list-logger" in done.stderr
