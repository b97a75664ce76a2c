"""Class orders, per-step subsets (disjoint vs overlap) and label remapping on a dataset whose contents are known."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from wilss.data.build import build_eval_datasets, build_train_dataset, subset_size
from wilss.data.index import load_presence
from wilss.data.labels import image_label_matrix, label_lut, step_subset
from wilss.data.sources import voc_split
from wilss.data.tasks import get_task
from wilss.errors import WilssError


def data_cfg(root, cache):
    return SimpleNamespace(name="voc", root=str(root), crop_size=16, crop_size_val=16, cache_dir=str(cache))


def test_voc_class_orders_match_the_reference():
    assert get_task("voc", "15-5", 1).order == tuple(range(21))
    assert get_task("voc", "15-5", 0).classes_per_step == [16]
    assert get_task("voc", "15-5", 1).classes_per_step == [16, 5]
    assert get_task("voc", "10-10", 1).classes_per_step == [11, 10]
    assert get_task("voc", "15-1", 5).classes_per_step == [16, 1, 1, 1, 1, 1]
    assert get_task("voc", "10-2", 5).classes_per_step == [11, 2, 2, 2, 2, 2]


def test_coco_to_voc_order_puts_person_on_channel_61():
    task = get_task("coco-voc", "voc", 1)
    assert task.classes_per_step == [61, 20]
    assert task.order[61] == 1  # COCO id 1 = person: VOC classes are not in VOC order
    assert task.num_old == 61


def test_unknown_task_dataset_and_step_name_the_option():
    with pytest.raises(WilssError, match="task=") as err:
        get_task("voc", "15-6", 0)
    assert "15-5" in str(err.value)
    with pytest.raises(WilssError, match="dataset="):
        get_task("cityscapes", "15-5", 0)
    with pytest.raises(WilssError, match="step=2"):
        get_task("voc", "15-5", 2)


def test_disjoint_and_overlap_subsets_follow_the_rules(tiny_voc, tmp_path):
    presence = load_presence(voc_split(tiny_voc, "train"), tmp_path / "cache")
    ids = np.array(list("abcdefghij"))
    step0, step1 = get_task("voc", "15-5", 0), get_task("voc", "15-5", 1)
    # Disjoint step 0: a class of 1..15 and nothing of 16..20.
    assert list(ids[step_subset(presence, step0, overlap=False)]) == ["a", "e", "f", "g", "j"]
    # Overlap step 0: future classes allowed.
    assert list(ids[step_subset(presence, step0, overlap=True)]) == ["a", "b", "e", "f", "g", "h", "j"]
    # Last step: both settings coincide.
    assert list(ids[step_subset(presence, step1, overlap=False)]) == ["b", "c", "d", "h", "i"]
    assert list(ids[step_subset(presence, step1, overlap=True)]) == ["b", "c", "d", "h", "i"]
    ten = get_task("voc", "10-10", 0)
    assert list(ids[step_subset(presence, ten, overlap=False)]) == ["a"]


def test_train_lut_keeps_current_classes_and_trains_void_as_background():
    step1 = get_task("voc", "15-5", 1)
    lut = label_lut(step1, train=True)
    assert lut[17] == 17 and lut[0] == 0
    assert lut[3] == 0  # old class -> background while training a later step
    assert lut[255] == 0
    assert label_lut(step1, train=True, void_as_background=False)[255] == 255
    step0 = get_task("voc", "15-5", 0)
    assert label_lut(step0, train=True)[18] == 0  # future class -> background


def test_eval_lut_keeps_seen_classes_void_and_hides_future():
    lut = label_lut(get_task("voc", "15-5", 0), train=False)
    assert lut[15] == 15 and lut[16] == 0 and lut[255] == 255


def test_coco_lut_maps_ids_to_positions():
    lut = label_lut(get_task("coco-voc", "voc", 1), train=False)
    assert lut[1] == 61 and lut[8] == 1 and lut[12] == 0  # 12 is not a COCO-2017 class


def test_image_labels_are_new_classes_only_in_training():
    task = get_task("voc", "15-5", 1)
    presence = np.zeros((1, 256), dtype=bool)
    presence[0, [0, 3, 17, 255]] = True
    train = image_label_matrix(presence, task, train=True)
    evaluation = image_label_matrix(presence, task, train=False)
    assert train.shape == (1, 20)
    assert np.flatnonzero(train[0]).tolist() == [16]          # entry k-1 <-> label k=17
    assert np.flatnonzero(evaluation[0]).tolist() == [2, 16]  # old class 3 kept for evaluation


def test_dataset_item_has_remapped_mask_and_labels(tiny_voc, tmp_path):
    task = get_task("voc", "15-5", 1)
    dataset = build_train_dataset(data_cfg(tiny_voc, tmp_path / "c"), task, overlap=False)
    assert len(dataset) == 5
    item = dataset[(0, 123)]  # image "b": classes 1 and 16
    assert item["image"].shape == (3, 16, 16)
    assert set(item["mask"].unique().tolist()) <= {0, 16}
    assert item["labels"].nonzero().flatten().tolist() == [15]
    again = dataset[(0, 123)]
    assert (again["mask"] == item["mask"]).all() and (again["image"] == item["image"]).all()


def test_eval_dataset_covers_the_whole_val_split(tiny_voc, tmp_path):
    sets = build_eval_datasets(data_cfg(tiny_voc, tmp_path / "c"), get_task("voc", "15-5", 0), "parity")
    assert list(sets) == ["val"] and len(sets["val"]) == 10
    assert subset_size(data_cfg(tiny_voc, tmp_path / "c"), get_task("voc", "15-5", 0), overlap=True) == 7


def test_presence_cache_is_reused_and_invalidated_by_an_edited_mask(tiny_voc, tmp_path):
    cache = tmp_path / "cache"
    split = voc_split(tiny_voc, "train")
    first = load_presence(split, cache)
    files = sorted(cache.glob("presence-*.npy"))
    assert len(files) == 1
    load_presence(split, cache)
    assert sorted(cache.glob("presence-*.npy")) == files
    from PIL import Image
    mask = tiny_voc / "SegmentationClassAug" / "a.png"
    Image.fromarray(np.full((16, 16), 7, dtype=np.uint8), mode="L").save(mask)
    second = load_presence(split, cache)
    assert len(list(cache.glob("presence-*.npy"))) == 2
    assert not first[0, 7] and second[0, 7]
