"""The preprocessed dataset store: decoded once, reused, rebuilt when the files change, never read half-written, and
sent to trials as a few kilobytes; masks saved as people save them; a fingerprint that is right at any size."""
import os
import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from datasets import (
    Sample,
    SegmentationData,
    compute_fingerprint,
    load_dataset,
)
from datasets import store as store_module
from datasets.inspect import main as inspect_main
from datasets.progress import Progress
from datasets.store import is_complete, store_path
from tests.helpers import layouts
from tests.helpers.paths import REPO


def _rgb_mask_folder(root, n=6, size=40, colours=None):
    """A folder dataset whose masks are RGB: three equal channels (0/255), or `colours` for a colour-coded label map."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / "images" / f"c{i}.png")
        fg = np.zeros((size, size), bool)
        fg[5 + i : 20 + i, 8:30] = True
        if colours is None:
            rgb = np.stack([fg * 255] * 3, -1).astype(np.uint8)
        else:
            rgb = np.where(fg[..., None], np.array(colours[0], np.uint8), np.array(colours[1], np.uint8))
        Image.fromarray(rgb, "RGB").save(root / "masks" / f"c{i}.png")
    return root


def test_an_rgb_mask_with_equal_channels_reads_as_a_grey_binary_mask(tmp_path):
    data = load_dataset("folder", _rgb_mask_folder(tmp_path / "rgb"))
    assert data.class_names == ["background", "class1"]
    masks = {s.name: np.asarray(s.mask) for s in data.train + data.val + data.test}
    assert set(np.unique(masks["c0"]).tolist()) == {0, 1} and masks["c0"][5:20, 8:30].all() and masks["c0"].sum() == 15 * 22


def test_a_colour_coded_mask_is_one_line_naming_its_colours_and_exit_2(tmp_path, capsys):
    root = _rgb_mask_folder(tmp_path / "colour", colours=[(255, 0, 0), (0, 0, 255)])
    assert inspect_main(["--dataset", "folder", "--data-root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "colour-coded label map (2 colours: (0, 0, 255), (255, 0, 0))" in err[0], err
    assert "one class index per pixel" in err[0] and "--dataset vaihingen" in err[0]


def test_the_fingerprint_of_twenty_million_pixels_matches_float64():
    rng = np.random.default_rng(0)
    samples = []
    for i in range(21):  # 21 M pixels a channel: a float32 running sum stops at 2**24
        image = rng.integers(100, 200, (2, 1000, 1000), dtype=np.uint8)
        valid = np.ones((1000, 1000), bool)
        valid[:, :10] = False
        samples.append(Sample(f"s{i}", image, (image[0] > 150).astype(np.uint8), valid))
    data = SegmentationData("big", ["background", "fg"], 0, samples[:18], samples[18:], samples[:1])
    fp = compute_fingerprint(data)
    pixels = np.concatenate([s.image[:, s.valid].astype(np.float64) / 255.0 for s in samples], axis=1)
    assert pixels.shape[1] > 20_000_000
    assert np.allclose(fp.intensity_mean, pixels.mean(1), atol=1e-9, rtol=0)
    assert np.allclose(fp.intensity_std, pixels.std(1), atol=1e-9, rtol=0)
    assert fp.valid_fraction == pytest.approx(0.99)


def test_a_second_load_reuses_the_store_without_decoding(tmp_path, monkeypatch):
    root = layouts.write_folder(tmp_path / "mine", n=8)
    first = load_dataset("folder", root)
    import datasets.folder as folder

    monkeypatch.setattr(folder, "read_image", lambda *a, **k: pytest.fail("decoded again"))
    again = load_dataset("folder", root)
    assert again.store == first.store and is_complete(store_module.Path(first.store))
    assert all(np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) for a, b in zip(first.train, again.train))
    assert compute_fingerprint(again) == compute_fingerprint(first)  # the second one read back from beside the store


def test_a_store_whose_files_changed_is_rebuilt_and_the_old_one_removed(tmp_path):
    root = layouts.write_folder(tmp_path / "mine", n=8)
    first = load_dataset("folder", root, seed=0)
    name = first.train[0].name
    mask = np.zeros((32, 32), np.uint8)
    mask[:4] = 255
    Image.fromarray(mask).save(root / "masks" / f"{name}.png")
    os.utime(root / "masks" / f"{name}.png", ns=(1, 1))  # a new time whatever the file system's resolution
    again = load_dataset("folder", root, seed=0)
    assert again.store != first.store and not store_module.Path(first.store).exists()
    changed = next(s for s in again.train if s.name == name)
    assert np.asarray(changed.mask).sum() == 4 * 32


HALF_WRITE = """
import sys, time
import numpy as np
from pathlib import Path
from datasets.store import write
from datasets.types import Sample

def cases():
    for i in range(3):
        yield Sample(f"c{i}", np.full((1, 64, 64), i, np.uint8), np.zeros((64, 64), np.uint8), np.ones((64, 64), bool))
    print("written", flush=True)
    time.sleep(600)
    yield from ()

write(Path(sys.argv[1]), {"train": cases()})
"""


def test_a_store_killed_mid_write_is_never_read_and_its_leftovers_go(tmp_path):
    path = tmp_path / "stores" / "demo-aaaa-bbbb"
    proc = subprocess.Popen([sys.executable, "-c", HALF_WRITE, str(path)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partials = list(path.parent.glob(".demo-aaaa-bbbb.partial-*"))
    assert len(partials) == 1 and any(f.stat().st_size for f in partials[0].iterdir())  # pixels on disk, no meta.json
    assert not path.exists() and not is_complete(path)
    rebuilt = [Sample(f"c{i}", np.full((1, 8, 8), 7, np.uint8), np.zeros((8, 8), np.uint8), np.ones((8, 8), bool)) for i in range(2)]
    store_module.build_once(path, lambda: {"train": rebuilt})
    assert is_complete(path) and not list(path.parent.glob(".demo-aaaa-bbbb.partial-*"))  # the dead writer's folder is gone
    opened = store_module.Store(path, store_module.Recipe("demo", str(tmp_path), (), str(path)))
    assert [c["name"] for c in opened.cases] == ["c0", "c1"] and int(opened.array(1, "image").max()) == 7


def test_an_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("UNET_SEARCH_CACHE", str(tmp_path / "cache"))
    root = layouts.write_folder(tmp_path / "mine", n=8)
    import datasets.folder as folder

    real, calls = folder.read_image, []

    def interrupted(path, *a, **k):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, *a, **k)

    monkeypatch.setattr(folder, "read_image", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("folder", root)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*"))


def test_stored_data_pickles_as_its_place_in_the_store(tmp_path):
    root = layouts.write_folder(tmp_path / "mine", n=10, size=256)
    data = load_dataset("folder", root)
    blob = pickle.dumps(data)
    pixels = sum(s.image.nbytes for s in data.train + data.val + data.test)
    assert pixels > 500_000 and len(blob) < pixels / 50  # what Ray's object store carries to every trial
    back = pickle.loads(blob)
    assert all(np.array_equal(a.image, b.image) and np.array_equal(a.valid, b.valid) for a, b in zip(data.train, back.train))
    assert not back.train[0].image.flags.writeable
    crop = back.train[0].image[:, :8, :8] * 2  # derived arrays travel as pixels
    assert np.array_equal(pickle.loads(pickle.dumps(crop)), crop)


def test_store_paths_follow_the_options_and_the_files(tmp_path):
    root = layouts.write_folder(tmp_path / "mine", n=4)
    a, b = store_path("folder", root, {}), store_path("folder", root, {"num_classes": 2})
    assert a != b and a.name.startswith("folder-")
    assert store_path("folder", root, {}) == a


def test_progress_prints_a_line_every_ten_seconds_where_stderr_is_no_terminal(capsys):
    now = [0.0]
    progress = Progress("preprocessing demo", 100, clock=lambda: now[0])
    for _ in range(100):
        now[0] += 0.5
        progress.step()
    progress.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 6 and "\r" not in "".join(lines) and "\x1b[" not in "".join(lines)
    assert lines[0] == "preprocessing demo: 20/100 cases, 2 a second, 40 s left"
    assert lines[-1] == "preprocessing demo: 100 cases in 50 s"


