"""An on-disk cache of decoded datasets, keyed by the files' names, sizes and times and the options."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable

CACHE_ENV = "UNET_SEARCH_CACHE"


def cache_dir() -> Path:
    """The cache folder: $UNET_SEARCH_CACHE, else ~/.cache/unet-search."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "unet-search")


def fingerprint_files(root: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime in ns) of every file under root, sorted."""
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out.append((str(path.relative_to(root)), st.st_size, st.st_mtime_ns))
    return out


def cache_key(name: str, root: Path, options: dict[str, Any]) -> str:
    """A hash of the dataset name, its files and the loading options."""
    blob = json.dumps([name, str(root.resolve()), sorted(options.items()), fingerprint_files(root)], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cached(name: str, root: Path, options: dict[str, Any], decode: Callable[[], Any]) -> Any:
    """Return the decoded data from the cache, or decode it and store it atomically."""
    folder = cache_dir()
    path = folder / f"{name}-{cache_key(name, root, options)}.pkl"
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError):
            path.unlink(missing_ok=True)
    data = decode()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the next run a decode
    return data
