"""Bad data gives one line naming the file, a non-zero exit from the CLI, and writes nothing."""

import numpy as np
import pytest
from PIL import Image

from tests.helpers import layouts


def test_drive_image_without_its_annotation(tmp_path):
    root = layouts.write_drive(tmp_path / "DRIVE")
    (root / "training" / "1st_manual" / "22_manual1.gif").unlink()
    from datasets import DatasetError, load_dataset

    with pytest.raises(DatasetError, match=r"22_training.tif: no vessel annotation \(expected .*22_manual1.gif\)"):
        load_dataset("drive", root)


def test_non_binary_drive_annotation(tmp_path):
    root = layouts.write_drive(tmp_path / "DRIVE")
    Image.fromarray(np.full((40, 36), 128, np.uint8)).save(root / "test" / "1st_manual" / "01_manual1.gif")
    from datasets import DatasetError, load_dataset

    with pytest.raises(DatasetError, match="01_manual1.gif: mask values .* are not binary"):
        load_dataset("drive", root)


def test_unknown_colour_in_vaihingen_label(tmp_path):
    root = layouts.write_vaihingen(tmp_path / "v")
    bad = np.zeros((32, 32, 3), np.uint8)
    bad[...] = (10, 20, 30)
    Image.fromarray(bad).save(root / "gts_for_participants" / "top_mosaic_09cm_area2.tif")
    from datasets import DatasetError, load_dataset

    with pytest.raises(DatasetError, match=r"area2.tif: colour \(10, 20, 30\) at \(0, 0\) is not an ISPRS class colour"):
        load_dataset("vaihingen", root)


def test_unknown_dataset_name():
    from datasets import DatasetError, load_dataset

    with pytest.raises(DatasetError, match="unknown dataset 'cityscapes': choose one of synthetic"):
        load_dataset("cityscapes")


def _grey_masks(root, as_jpeg: bool):
    """Overwrite a folder dataset's masks with lesion-like discs as a careless export leaves them: resized with bilinear
    interpolation (PNG) or saved as JPEG."""
    yy, xx = np.mgrid[:32, :32]
    for i, path in enumerate(sorted((root / "masks").glob("*.png"))):
        disc = (((yy - 12 - i % 8) ** 2 + (xx - 16) ** 2) < 64).astype(np.uint8) * 255
        if as_jpeg:
            path.unlink()
            Image.fromarray(disc).save(path.with_suffix(".jpg"), quality=70)
        else:
            Image.fromarray(disc).resize((97, 97), Image.NEAREST).resize((32, 32), Image.BILINEAR).save(path)
    return root


@pytest.mark.parametrize("as_jpeg", [False, True], ids=["interpolated", "jpeg"])
def test_grey_valued_masks_are_refused_and_num_classes_2_thresholds_them(tmp_path, as_jpeg):
    from datasets import DatasetError, load_dataset

    root = _grey_masks(layouts.write_folder(tmp_path / "mine"), as_jpeg)

    with pytest.raises(DatasetError, match=r"img\d.(png|jpg): \d+ distinct values, .* not class labels; pass --num-classes 2"):
        load_dataset("folder", root, use_cache=False)
    data = load_dataset("folder", root, num_classes=2, use_cache=False)
    masks = np.stack([s.mask for s in data.train + data.val + data.test])
    assert set(np.unique(masks).tolist()) == {0, 1} and data.class_names == ["background", "class1"]
    assert 0.1 < masks.mean() < 0.35  # the discs (about 20% of each mask), not a speckle of JPEG noise


def test_grey_valued_isic_masks_say_what_to_do(tmp_path):
    root = layouts.write_isic(tmp_path / "isic", n=3)
    mask = next(root.rglob("*_segmentation.png"))
    h, w = 160, 150  # an image large enough that a lesion's blurred rim is a thin share of it
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(next(root.rglob(mask.name.replace("_segmentation.png", ".jpg"))))
    yy, xx = np.mgrid[:h, :w]
    disc = ((yy - h // 2) ** 2 + (xx - w // 2) ** 2 < (min(h, w) // 3) ** 2).astype(np.uint8) * 255
    Image.fromarray(disc).resize((4 * w, 4 * h), Image.NEAREST).resize((w, h), Image.BILINEAR).save(mask)
    from datasets import DatasetError, load_dataset

    with pytest.raises(DatasetError, match=r"_segmentation.png: \d+ distinct values.*--num-classes 2"):
        load_dataset("isic", root, use_cache=False)
    assert load_dataset("isic", root, num_classes=2, use_cache=False).train


def test_a_dangling_symlink_among_the_images_is_reported_as_an_unreadable_image(tmp_path):
    root = layouts.write_folder(tmp_path / "mine")
    (root / "images" / "img3.png").unlink()
    (root / "images" / "img3.png").symlink_to(tmp_path / "gone.png")
    from datasets import DatasetError, load_dataset

    with pytest.raises(DatasetError, match=r"img3.png: the image itself cannot be read: a symbolic link to .*gone.png, which does not exist"):
        load_dataset("folder", root, use_cache=False)
