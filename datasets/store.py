"""The preprocessed dataset store, after nnU-Net's: every case decoded once into flat arrays on disk that trials
memory-map, so memory grows with the patches in flight, not with the dataset.

A store is a folder `<cache>/stores/<name>-<setup>-<files>`: `<setup>` hashes the dataset name, its root and the loader
options, `<files>` the names, sizes and modification times of the files under the root (a changed file makes a new
store; the older store of the same setup is removed). It holds

    meta.json    the version, the cases in order (name, split, shape, where each array starts, largest label value)
    image.u8     images stored losslessly as uint8 (those decoded from 8-bit files)
    image.f32    images that are not (resized or gamma-corrected by the loader), float32 in [0, 1]
    mask.u8      class masks
    valid.u8     valid masks (0/1) that leave some pixels out (a mask of every pixel is not stored)

A store is written in a hidden `.<folder>.partial-<pid>-<id>` folder and renamed into place once `meta.json`, written
last, is on disk, so a store killed mid-write is never read. The arrays opened from a store pickle as their place in it
(`StoredArray`), so a dataset sent to Ray's trials is a few kilobytes; a process that does not have the folder (another
node of a cluster without a shared cache) builds it there once from the same --data-root, under a file lock.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import mmap
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from . import pages
from .progress import Progress, case_count
from .pages import release_pages  # noqa: F401 - re-exported: the store's callers drop pages through it
from .types import DatasetError, Sample

STORE_VERSION = 1
CACHE_ENV = "UNET_SEARCH_CACHE"
DTYPES = {"u8": np.uint8, "f32": np.float32}


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


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:16]


def store_path(name: str, root: Path, options: dict[str, Any]) -> Path:
    """The store folder of dataset `name` read from `root` with `options`, for the files under `root` as they are now."""
    setup = _hash([STORE_VERSION, name, str(Path(root).resolve()), sorted(options.items())])
    return cache_dir() / "stores" / f"{name}-{setup}-{_hash(fingerprint_files(Path(root)))}"


@dataclass(frozen=True)
class Recipe:
    """How a store is made: what a process that lacks the folder needs to build it: the dataset's loader (a module-level
    function of datasets.registry's spec, pickled by reference) reads `root` with `options`."""

    name: str
    root: str
    options: tuple[tuple[str, Any], ...]
    path: str
    loader: Callable[..., dict[str, Iterable[Sample]]] | None = None


class StoredArray(np.ndarray):
    """A read-only view of one case's array in a store; it pickles as its place in the store, not as its pixels.
    Arrays derived from it (slices, arithmetic) are ordinary arrays when pickled."""

    _where: tuple[Recipe, int, str] | None = None

    def __array_finalize__(self, obj) -> None:
        self._where = None

    def __reduce_ex__(self, protocol):
        if self._where is None:
            return np.asarray(self).__reduce_ex__(protocol)
        return (_stored_array, self._where)


def _stored_array(recipe: Recipe, case: int, field: str) -> StoredArray:
    return open_recipe(recipe).array(case, field)


class Store:
    """An opened store: its cases' arrays as read-only memory-mapped views."""

    def __init__(self, path: Path, recipe: Recipe):
        self.path, self.recipe = Path(path), recipe
        self.meta = json.loads((self.path / "meta.json").read_text())
        if self.meta.get("version") != STORE_VERSION:
            raise DatasetError(f"{self.path}: a store of version {self.meta.get('version')}, expected {STORE_VERSION}")
        self.maps: dict[str, mmap.mmap] = {}
        for name in ("image.u8", "image.f32", "mask.u8", "valid.u8"):
            file = self.path / name
            if file.stat().st_size:
                with open(file, "rb") as fh:
                    self.maps[name] = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)

    @property
    def cases(self) -> list[dict[str, Any]]:
        """Every case's entry of meta.json, in store order."""
        return self.meta["cases"]

    def array(self, case: int, field: str) -> StoredArray:
        """The memory-mapped (C, H, W) image or (H, W) mask / valid of case number `case`."""
        entry = self.cases[case]
        c, h, w = entry["shape"]
        shape = (c, h, w) if field == "image" else (h, w)
        if entry[field] is None:  # a valid mask of all pixels, not stored: a read-only view of one True
            view = np.broadcast_to(np.True_, shape).view(StoredArray)
            view._where = (self.recipe, case, field)
            return view
        kind, offset = entry[field]
        dtype = np.dtype(np.bool_ if field == "valid" else DTYPES[kind])
        raw = np.frombuffer(self.maps[f"{field}.{kind}"], dtype, count=int(np.prod(shape)), offset=offset * dtype.itemsize)
        view = raw.reshape(shape).view(StoredArray)
        view._where = (self.recipe, case, field)
        return view

    def sample(self, case: int) -> Sample:
        """Case number `case` as a Sample over the store's memory maps."""
        return Sample(self.cases[case]["name"], self.array(case, "image"), self.array(case, "mask"), self.array(case, "valid"))

    def splits(self) -> dict[str, list[Sample]]:
        """The cases as the loader gave them: {split: [Sample, ...]}."""
        out: dict[str, list[Sample]] = {}
        for i, entry in enumerate(self.cases):
            out.setdefault(entry["split"], []).append(self.sample(i))
        return out

    def release_pages(self) -> None:
        """Drop this process's mapped pages (they stay in the page cache; the next read maps them again), so the process's
        resident memory counts the patches in flight, not every case it has read."""
        for mm in self.maps.values():
            try:
                mm.madvise(mmap.MADV_DONTNEED)
            except (AttributeError, OSError, ValueError):  # no madvise here: the kernel still reclaims clean pages under pressure
                return


_OPEN: dict[str, Store] = {}


def open_recipe(recipe: Recipe) -> Store:
    """The store of `recipe`, opened once per process; built here first where this machine lacks it (a cluster node)."""
    store = _OPEN.get(recipe.path)
    if store is None:
        path = Path(recipe.path)
        if not is_complete(path):
            if recipe.loader is None:
                raise DatasetError(f"{path}: no such store here, and its recipe names no loader to build it")
            build_once(path, lambda: recipe.loader(Path(recipe.root), **dict(recipe.options)), f"preprocessing {recipe.name} into {path}")
        store = _OPEN[recipe.path] = Store(path, recipe)
        pages.register(recipe.path, store.release_pages)
    return store


def is_complete(path: Path) -> bool:
    """Whether `path` holds a finished store of this version (a partial one never has its meta.json in place)."""
    try:
        return json.loads((path / "meta.json").read_text()).get("version") == STORE_VERSION
    except (OSError, ValueError):
        return False


def lossless_u8(image: np.ndarray) -> np.ndarray | None:
    """`image` as uint8 if it is exactly value / 255 of 8-bit values (decoded from an 8-bit file), else None."""
    if image.dtype == np.uint8:
        return image
    scaled = np.rint(np.asarray(image, np.float32) * 255.0)
    if scaled.min(initial=0) < 0 or scaled.max(initial=0) > 255:
        return None
    u8 = scaled.astype(np.uint8)
    return u8 if np.array_equal(u8.astype(np.float32) / 255.0, image) else None


def write(path: Path, splits: dict[str, Iterable[Sample]], what: str = "preprocessing") -> None:
    """Decode every case of `splits` once into a new store at `path`, atomically (see the module's docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(path)
    tmp = path.parent / f".{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir()
    try:
        files = {name: open(tmp / name, "wb") for name in ("image.u8", "image.f32", "mask.u8", "valid.u8")}
        offsets = {name: 0 for name in files}
        cases = []
        total = sum(n for n in (case_count(v) for v in splits.values()) if n is not None) if all(case_count(v) is not None for v in splits.values()) else None
        progress = Progress(what, total)
        try:
            for split, samples in splits.items():
                for s in samples:
                    u8 = lossless_u8(s.image)
                    image, kind = (u8, "u8") if u8 is not None else (np.asarray(s.image, np.float32), "f32")
                    entry = {"name": s.name, "split": split, "shape": list(image.shape), "max_label": int(s.mask.max(initial=0))}
                    valid = np.asarray(s.valid, bool)
                    entry["valid"] = None  # every pixel valid: nothing stored
                    for field, array, file in (("image", image, f"image.{kind}"), ("mask", np.asarray(s.mask, np.uint8), "mask.u8"),
                                               ("valid", valid.view(np.uint8), "valid.u8")):
                        if field == "valid" and valid.all():
                            continue
                        files[file].write(np.ascontiguousarray(array).tobytes())
                        entry[field] = [kind if field == "image" else "u8", offsets[file]]
                        offsets[file] += array.size
                    cases.append(entry)
                    progress.step()
        finally:
            for fh in files.values():
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
        if not cases:
            raise DatasetError(f"{what}: no cases to store")
        progress.close()
        meta = {"version": STORE_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "cases": cases}
        with open(tmp / "meta.json", "w") as fh:
            json.dump(meta, fh)
            fh.flush()
            os.fsync(fh.fileno())
        _replace_setup_siblings(path)
        try:
            os.rename(tmp, path)
        except OSError:  # another process finished the same store first: keep theirs
            if not is_complete(path):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_dead_partials(path: Path) -> None:
    """Partial folders of `path` left by a process that no longer runs (killed mid-write)."""
    for partial in path.parent.glob(f".{path.name}.partial-*"):
        try:
            pid = int(partial.name.rsplit(".partial-", 1)[1].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(partial, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            continue


def _replace_setup_siblings(path: Path) -> None:
    """Remove the stores of the same dataset setup made from files that have changed since (the older versions)."""
    setup = path.name.rsplit("-", 1)[0]
    for old in path.parent.glob(f"{setup}-*"):
        if old != path and old.is_dir():
            _OPEN.pop(str(old), None)
            pages.forget(str(old))
            shutil.rmtree(old, ignore_errors=True)


def build_once(path: Path, decode: Callable[[], dict[str, Iterable[Sample]]], what: str = "preprocessing") -> None:
    """Write the store at `path` unless it is complete; concurrent processes of one machine build it once (a file lock)."""
    made = [p for p in (path.parent.parent, path.parent) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.parent / f".{path.name}.lock"
    try:
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not is_complete(path):
                write(path, decode(), what)
    except BaseException:  # bad data or an interrupt: leave no trace of the attempt
        lock_path.unlink(missing_ok=True)
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                pass
        raise


def open_or_build(name: str, root: Path, options: dict[str, Any], loader: Callable[..., dict[str, Iterable[Sample]]]) -> Store:
    """The store of dataset `name` at `root` with `options`: opened if it exists for these files, else built first by
    `loader(root, **options)` (a module-level function: a process on another machine builds with it)."""
    path = store_path(name, root, options)
    if str(path) not in _OPEN and not is_complete(path):  # built from the user's path, so errors name the files as given
        build_once(path, lambda: loader(root, **options), f"preprocessing {name} into {path}")
    return open_recipe(Recipe(name, str(Path(root).resolve()), tuple(sorted(options.items())), str(path), loader))
