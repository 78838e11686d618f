"""The preprocessed dataset store: decoded once, reused, rebuilt when the files change, never read half-written, and
sent to trials as a few kilobytes; masks saved as people save them; a fingerprint that is right at any size."""

import pytest

from datasets import load_dataset
from datasets import store as store_module
from tests.helpers import layouts


@pytest.mark.slow  # a real process
def test_a_trial_process_holds_patches_not_the_dataset(tmp_path):
    """Reading every case of a store through patches leaves the process's resident memory near where it started."""
    root = layouts.write_folder(tmp_path / "mine", n=40, size=1024)  # 40 MiB of uint8 pixels
    data = load_dataset("folder", root)
    from datasets import PatchDataset

    ds = PatchDataset(data.train, 64, 64)

    def mapped_kib() -> int:
        with open("/proc/self/smaps_rollup") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("Rss:"))

    store_module.release_pages()
    before = mapped_kib()
    for k in range(len(ds)):
        ds[k]
    store_module.release_pages()
    assert mapped_kib() - before < 10 * 1024, "the store's pages stayed in the process"
    assert len(ds) == len(data.train) * (1024 // 64) ** 2  # every patch of every case was read
