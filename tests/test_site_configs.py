"""A lab's own config folder on the search path (WILSS_CONFIG_PATH or hydra.searchpath), next to the packaged
configs, and the repository's configs/ as the example of one."""

from __future__ import annotations

import pytest

from conftest import REPO
from wilss.config import SEARCH_PATH_ENV, load_config
from wilss.errors import WilssError


def test_a_site_folder_from_the_environment_adds_cluster_presets_and_dataset_roots(monkeypatch):
    monkeypatch.setenv(SEARCH_PATH_ENV, str(REPO / "configs"))
    cfg = load_config(["launch=local-cluster", "dataset=voc-site"])
    assert (cfg.launch.partition, cfg.launch.gpus_per_node, cfg.launch.cpus_per_task) == ("debug", 0, 2)
    assert cfg.launch.max_requeues == 20  # the rest comes from the packaged launch/default.yaml
    assert cfg.dataset.root == "/datasets/VOC2012" and cfg.dataset.name == "voc"


def test_hydra_searchpath_on_the_command_line_works_without_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(SEARCH_PATH_ENV, raising=False)
    (tmp_path / "launch").mkdir()
    (tmp_path / "launch" / "mine.yaml").write_text("defaults:\n  - default\n  - _self_\npartition: a100\n")
    cfg = load_config([f"hydra.searchpath=[file://{tmp_path}]", "launch=mine"])
    assert cfg.launch.partition == "a100"


def test_without_a_site_folder_its_presets_are_unknown_options(monkeypatch):
    monkeypatch.delenv(SEARCH_PATH_ENV, raising=False)
    with pytest.raises(WilssError, match="local-cluster"):
        load_config(["launch=local-cluster"])


def test_a_site_folder_that_does_not_exist_is_named_with_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(SEARCH_PATH_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(WilssError, match=f"{SEARCH_PATH_ENV} names .*nowhere"):
        load_config([])


def test_packaged_configs_keep_their_name_when_a_site_folder_has_the_same_file(monkeypatch, tmp_path):
    (tmp_path / "launch").mkdir()
    (tmp_path / "launch" / "default.yaml").write_text("partition: site\n")
    monkeypatch.setenv(SEARCH_PATH_ENV, str(tmp_path))
    assert load_config([]).launch.partition is None  # the packaged default wins: a site adds, never replaces
