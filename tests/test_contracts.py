"""Methods and backbones are checked against their contracts (the Protocols `Method` and `Backbone`) when they
are built: a component of another package that lacks a member fails there, naming it, not deep in training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_probe(source: str) -> subprocess.CompletedProcess:
    """In a process of its own: the probe registers a component, which would stay registered here."""
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_a_method_without_param_groups_fails_when_it_is_built_naming_the_member():
    done = run_probe(
        "from wilss.methods import METHODS\n"
        "class Losses:\n"
        "    def losses(self, batch, epoch): return {}\n"
        "    def modules(self): return {}\n"
        "METHODS.register('losses_only')(lambda context: Losses())\n"
        "from wilss.errors import WilssError\n"
        "try:\n"
        "    METHODS.build('losses_only', None)\n"
        "except WilssError as err:\n"
        "    print(err)\n")
    assert done.returncode == 0, done.stderr
    assert "method.name=losses_only built a Losses without param_groups" in done.stdout
    assert "Method in wilss.methods.registry" in done.stdout


def test_a_backbone_without_out_channels_fails_when_the_model_is_built_naming_the_member():
    done = run_probe(
        "import torch\n"
        "from wilss.models import build_model\n"
        "from wilss.models.backbones import BACKBONES\n"
        "class Body(torch.nn.Module):\n"
        "    output_stride = 16\n"
        "    def forward(self, images): return images\n"
        "BACKBONES.register('no_channels')(lambda options: Body())\n"
        "from wilss.errors import WilssError\n"
        "try:\n"
        "    build_model('no_channels', [16])\n"
        "except WilssError as err:\n"
        "    print(err)\n")
    assert done.returncode == 0, done.stderr
    assert "model.backbone=no_channels built a Body without out_channels, which every backbone has" in done.stdout

