"""Trial precision, common random numbers across configurations, and k-fold splits."""


import pytest

from datasets import load_dataset
from datasets.splits import with_fold
from datasets.types import DatasetError


def test_folds_cover_every_training_image_once_and_keep_the_test_split():
    data = load_dataset("synthetic", n_train=10, n_test=2, size=64)
    pool = sorted(s.name for s in data.train + data.val)
    held_out = []
    for k in range(3):
        fold = with_fold(data, k, 3, seed=4)
        assert sorted(s.name for s in fold.train + fold.val) == pool
        assert not {s.name for s in fold.train} & {s.name for s in fold.val}
        assert [s.name for s in fold.test] == [s.name for s in data.test]
        held_out += [s.name for s in fold.val]
    assert sorted(held_out) == pool
    assert [[s.name for s in with_fold(data, k, 3, seed=5).val] for k in range(3)] != [[s.name for s in with_fold(data, k, 3, seed=4).val] for k in range(3)]
    with pytest.raises(DatasetError, match="only 10 training images"):
        with_fold(data, 0, 11, seed=0)


def test_fingerprint_measures_structure_width_and_recommends_a_patch_that_holds_it():
    import numpy as np

    from datasets.fingerprint import recommend_patch, structure_width
    from datasets.types import Sample

    yy, xx = np.mgrid[:256, :256]
    disk = ((yy - 128) ** 2 + (xx - 128) ** 2 <= 40**2).astype(np.uint8)  # an 80-px lesion
    line = np.zeros((256, 256), np.uint8)
    line[:, 100:104] = 1  # a 4-px vessel
    image = np.zeros((1, 256, 256), np.float32)
    valid = np.ones((256, 256), bool)
    assert 60 <= structure_width([Sample("d", image, disk, valid)], 0) <= 80
    assert 3 <= structure_width([Sample("l", image, line, valid)], 0) <= 5
    assert recommend_patch(4, 584) == 64  # thin structures: the 64-px floor
    assert recommend_patch(45, 256) == 192  # three widths of 45 px
    assert recommend_patch(300, 256) == 256  # never larger than the images


