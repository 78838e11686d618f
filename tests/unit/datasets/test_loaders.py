import json

import numpy as np
import pytest
from PIL import Image

from datasets import as_float, load_dataset
from datasets.inspect import main as inspect_main
from tests.helpers import layouts
from tests.helpers.paths import real_data


def test_drive_layout_tif_and_gif(tmp_path):
    data = load_dataset("drive", layouts.write_drive(tmp_path / "DRIVE"))
    assert len(data.train) + len(data.val) == 3 and len(data.test) == 2
    s = data.test[0]
    assert s.image.shape == (3, 40, 36) and s.image.dtype == np.uint8  # stored losslessly: the TIF's 8-bit values
    assert as_float(s.image).dtype == np.float32 and as_float(s.image).max() <= 1
    assert set(np.unique(s.mask)) <= {0, 1} and s.valid.dtype == bool
    assert not s.valid[0].any() and s.valid[5, 5]  # the field of view comes from mask/*.gif
    assert data.num_classes == 1 and data.class_names == ["background", "vessel"]


def test_drive_green_channel_and_clahe_options(tmp_path):
    data = load_dataset("drive", layouts.write_drive(tmp_path / "DRIVE"), green=True, clahe=True, gamma=1.2)
    assert data.in_channels == 1


@pytest.mark.parametrize("writer", [layouts.write_isbi_pngs, layouts.write_isbi_stacks])
def test_isbi2012_pngs_and_tiff_stacks_membrane_is_label_zero(tmp_path, writer):
    root = writer(tmp_path / "isbi")
    data = load_dataset("isbi2012", root)
    samples = data.train + data.val + data.test
    assert len(samples) == 10
    assert len(data.test) == 1 and len(data.val) == 1  # 80/10/10 when there is no official test split
    raw = (
        np.asarray(Image.open(root / "train" / "label" / "0.png"))
        if (root / "train").is_dir()
        else np.asarray(Image.open(root / "train-labels.tif"))
    )
    first = next(s for s in samples if s.name in ("0", "slice00"))
    assert np.array_equal(first.mask, (raw == 0).astype(np.uint8))


def test_isic_images_and_masks_in_separate_folders_resized(tmp_path):
    data = load_dataset("isic", layouts.write_isic(tmp_path / "isic"), size=32)
    assert {s.image.shape for s in data.train + data.val + data.test} == {(3, 32, 32)}
    assert all(s.name.startswith("ISIC_") for s in data.train)


def test_pet_trimaps_map_to_three_classes(tmp_path):
    root = layouts.write_pet(tmp_path / "pet")
    data = load_dataset("pet", root, size=30)
    s = next(x for x in data.train + data.val + data.test if x.name == "Abyssinian_1")
    raw = np.asarray(Image.open(root / "annotations" / "trimaps" / "Abyssinian_1.png"))
    assert np.array_equal(s.mask == 1, raw == 1) and np.array_equal(s.mask == 0, raw == 2) and np.array_equal(s.mask == 2, raw == 3)
    assert data.num_classes == 3


def test_vaihingen_rgb_coded_labels(tmp_path):
    root = layouts.write_vaihingen(tmp_path / "vaihingen")
    data = load_dataset("vaihingen", root)
    s = next(x for x in data.train + data.val + data.test if x.name == "top_mosaic_09cm_area1")
    rgb = np.asarray(Image.open(root / "gts_for_participants" / "top_mosaic_09cm_area1.tif").convert("RGB"))
    assert tuple(rgb[0, 0]) == layouts.VAIHINGEN_COLOURS[s.mask[0, 0]]
    assert data.num_classes == 6 and data.background == 5


@pytest.mark.parametrize("classes", [2, 4])
def test_generic_folder_binary_and_indexed(tmp_path, classes):
    data = load_dataset("folder", layouts.write_folder(tmp_path / "mine", classes=classes))
    assert len(data.class_names) == classes
    assert max(int(s.mask.max()) for s in data.train) <= classes - 1


def test_synthetic_is_deterministic_per_seed():
    a, b = load_dataset("synthetic"), load_dataset("synthetic")
    assert np.array_equal(a.train[0].image, b.train[0].image)
    c = load_dataset("synthetic", n_train=4, n_test=2, data_seed=1)
    assert not np.array_equal(a.test[0].image, c.test[0].image)
    lesions = load_dataset("synthetic_lesions", n_train=4, n_test=2)
    assert lesions.class_names == ["skin", "lesion"]


def test_validation_split_is_seeded_and_disjoint(tmp_path):
    root = layouts.write_drive(tmp_path / "DRIVE", n_train=10)
    a, b, c = load_dataset("drive", root, seed=0), load_dataset("drive", root, seed=0), load_dataset("drive", root, seed=3)
    assert [s.name for s in a.val] == [s.name for s in b.val]
    assert {s.name for s in a.val}.isdisjoint(s.name for s in a.train) and len(a.val) == 2
    assert [s.name for s in a.val] != [s.name for s in c.val]


def test_decoded_arrays_are_stored_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("UNET_SEARCH_CACHE", str(tmp_path / "cache"))
    root = layouts.write_drive(tmp_path / "DRIVE")
    first = load_dataset("drive", root)
    assert len(list((tmp_path / "cache" / "stores").glob("drive-*"))) == 1
    calls = []
    import datasets.drive as drive

    monkeypatch.setattr(drive, "read_image", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    again = load_dataset("drive", root)  # served from the store: no decoding
    assert calls == []
    assert [s.name for s in again.train] == [s.name for s in first.train]
    assert all(np.array_equal(a.image, b.image) and np.array_equal(a.valid, b.valid) for a, b in zip(first.test, again.test))


def test_class_weights_are_total_over_count(tmp_path):
    data = load_dataset("synthetic", n_train=4, n_test=1)
    counts = data.class_counts()
    assert data.class_weights() == pytest.approx([counts.sum() / counts[0], counts.sum() / counts[1]])


def test_inspect_json_on_a_fixture(tmp_path, capsys):
    assert inspect_main(["--dataset", "drive", "--data-root", str(layouts.write_drive(tmp_path / "D")), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["train_images"] == 3 and out["test_images"] == 2 and out["image_shape"] == [40, 36]
    assert out["feasible_depths"] == [1, 2, 3]  # 32 / 2^3 = 4; 36 px allows no 48 px patch


def test_real_drive_fingerprint(capsys):
    root = real_data("drive")
    assert inspect_main(["--dataset", "drive", "--data-root", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["train_images"] == 20 and out["test_images"] == 20
    assert out["image_shape"] == [584, 565]
    assert 0.12 <= out["class_fraction"]["vessel"] <= 0.13


def test_real_isbi2012_fingerprint(capsys):
    root = real_data("isbi2012")
    assert inspect_main(["--dataset", "isbi2012", "--data-root", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_images"] == 30 and out["image_shape"] == [512, 512]
    assert 0.20 <= out["class_fraction"]["membrane"] <= 0.24


@pytest.mark.parametrize("name, write", [("isic", layouts.write_isic), ("pet", layouts.write_pet), ("drive", layouts.write_drive),
                                         ("vaihingen", layouts.write_vaihingen)])
def test_an_official_layout_streams_its_cases_into_the_store_decoding_none_up_front(tmp_path, monkeypatch, name, write):
    import importlib

    module = importlib.import_module(f"datasets.{name}")
    calls = []
    real = module.read_image
    monkeypatch.setattr(module, "read_image", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    splits = module.load(write(tmp_path / name))
    assert calls == []  # checked, counted, not decoded
    first = next(iter(splits["train"]))
    assert len(calls) == 1 and len(splits["train"]) >= 2
    if name in ("isic", "pet"):  # resized from 8-bit files: stored as uint8, a quarter of float32
        assert first.image.dtype == np.uint8
