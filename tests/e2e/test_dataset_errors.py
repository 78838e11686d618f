"""Bad data gives one line naming the file, a non-zero exit from the CLI, and writes nothing."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.helpers import layouts
from tests.helpers.paths import REPO


def _break_missing_folder(root):
    return root / "does-not-exist", "missing folder"


def _break_no_pairs(root):
    for p in (root / "images").iterdir():
        p.unlink()
    return root, "no image/mask pairs found"


def _break_image_without_mask(root):
    (root / "masks" / "img3.png").unlink()
    return root, "img3.png: no mask"


def _break_size_mismatch(root):
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "masks" / "img2.png")
    return root, "img2.png: size 20x20 differs from its image 32x32"


def _break_unreadable(root):
    (root / "images" / "img4.png").write_bytes(b"this is not a png")
    return root, "img4.png: unreadable image"


def _break_mask_values(root):
    Image.fromarray(np.full((32, 32), 7, np.uint8)).save(root / "masks" / "img1.png")
    return root, "img1.png: mask values [7] outside the 3 classes"


@pytest.mark.slow  # a real process
@pytest.mark.parametrize(
    "breaker",
    [_break_missing_folder, _break_no_pairs, _break_image_without_mask, _break_size_mismatch, _break_unreadable, _break_mask_values],
)
def test_bad_folder_data_is_one_line_naming_the_file_and_writes_nothing(tmp_path, breaker):
    root = layouts.write_folder(tmp_path / "mine", classes=3 if breaker is _break_mask_values else 2)
    root, message = breaker(root)
    cache = tmp_path / "cache"
    extra = ["--num-classes", "3"] if breaker is _break_mask_values else []
    proc = subprocess.run(
        [sys.executable, "-m", "datasets.inspect", "--dataset", "folder", "--data-root", str(root), *extra],
        cwd=REPO, capture_output=True, text=True, env={"UNET_SEARCH_CACHE": str(cache), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not cache.exists() or not any(cache.iterdir())


