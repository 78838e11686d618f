"""The dataset registry: a name, a loader of the official layout, and the classes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable


from . import drive, folder, isbi2012, isic, pet, synthetic, vaihingen
from unet_core.registry import Registry

from .store import Store, open_or_build
from .splits import make_splits
from .types import DatasetError, SegmentationData, Sample


@dataclass(frozen=True)
class DatasetOption:
    """A loader option a user sets on the command line (declared once, here; each dataset lists those it takes).

    Attributes:
        name: the loader's keyword and the flag (num_classes -> --num-classes).
        kind: bool (a switch), int or str.
        help: the flag's help, without the datasets (they are appended from the registry).
    """

    name: str
    kind: type
    help: str


GREEN = DatasetOption("green", bool, "keep the green channel")
NUM_CLASSES = DatasetOption("num_classes", int, "the number of classes (default: read from the masks); 2 also thresholds grey-valued "
                            "masks (resized with interpolation, saved as JPEG) at half range")
SPLIT_LISTS = DatasetOption("split_lists", str, "a folder whose train.txt and test.txt (or val.txt) list the image stems of each "
                            "split, e.g. Kvasir-SEG's published splits/ (the search validates within train.txt; the other list is the test)")


@dataclass(frozen=True)
class DatasetSpec:
    """How to read one dataset.

    Attributes:
        name: registry name.
        loader: reads the root and returns {"train": samples, optionally "test": samples}, each a list or a sized iterable
            that decodes one case at a time (a large folder is never held in memory whole).
        class_names: class names by index (None: inferred from the masks, for the folder dataset).
        background: class left out of foreground metrics.
        needs_root: whether --data-root is required.
        description: one line for --help.
        objects: the class whose connected components are separable objects (ISBI 2012: the cells), which
            the U-Net paper's border-weight loss separates; None where the objects do not touch or are not objects.
        options: the DatasetOptions its loader takes from the command line.
    """

    name: str
    loader: Callable[..., dict[str, Iterable[Sample]]]
    class_names: tuple[str, ...] | None
    background: int | None = 0
    needs_root: bool = True
    description: str = ""
    objects: int | None = None
    options: tuple[DatasetOption, ...] = ()


DATASETS: Registry[DatasetSpec] = Registry("dataset", DatasetError)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Make `spec` available as --dataset spec.name."""
    return DATASETS.add(spec.name, spec)


def _lesions(root=None, **kw):
    return synthetic.load(root, kind="lesions", **kw)


register_dataset(DatasetSpec("synthetic", synthetic.load, ("background", "vessel"), needs_root=False,
                             description="embedded curvilinear vessels in a circular field of view (default)"))
register_dataset(DatasetSpec("synthetic_lesions", _lesions, ("skin", "lesion"), needs_root=False, description="embedded blob lesions", objects=1))
register_dataset(DatasetSpec("drive", drive.load, tuple(drive.CLASS_NAMES), options=(GREEN, NUM_CLASSES),
                             description="DRIVE retinal vessels (official layout, field-of-view masks)"))
register_dataset(DatasetSpec("isbi2012", isbi2012.load, tuple(isbi2012.CLASS_NAMES), objects=0,
                             description="ISBI 2012 EM membranes (TIFF stacks or PNG slices)"))
register_dataset(DatasetSpec("isic", isic.load, tuple(isic.CLASS_NAMES), options=(NUM_CLASSES,), description="ISIC Task 1 lesion segmentation"))
register_dataset(DatasetSpec("pet", pet.load, tuple(pet.CLASS_NAMES), description="Oxford-IIIT Pet trimaps (3 classes)"))
register_dataset(DatasetSpec("vaihingen", vaihingen.load, tuple(vaihingen.CLASS_NAMES), vaihingen.BACKGROUND,
                             description="ISPRS Vaihingen-style RGB-coded aerial tiles"))
register_dataset(DatasetSpec("folder", folder.load, None, options=(NUM_CLASSES, SPLIT_LISTS), description="your own data: images/ + masks/ matched by file stem"))


def dataset_options() -> dict[str, tuple[DatasetOption, tuple[str, ...]]]:
    """Every loader option, with the datasets that take it."""
    out: dict[str, tuple[DatasetOption, tuple[str, ...]]] = {}
    for spec in DATASETS.values():
        for option in spec.options:
            out[option.name] = (option, out.get(option.name, (option, ()))[1] + (spec.name,))
    return out


def get_spec(name: str) -> DatasetSpec:
    """The spec of a registered dataset, or a one-line error listing the names."""
    return DATASETS.create(name)


def _class_names(spec: DatasetSpec, top: int) -> list[str]:
    if spec.class_names is not None:
        return list(spec.class_names)
    return ["background"] + [f"class{i}" for i in range(1, max(top, 1) + 1)]


def _in_memory(loaded: dict[str, Iterable[Sample]]) -> dict[str, list[Sample]]:
    return {split: list(samples) for split, samples in loaded.items()}


def _summary(loaded: dict[str, list[Sample]], store: Store | None) -> tuple[list[tuple[str, int]], set[int]]:
    """(name, largest mask value) of every case and the channel counts seen, from the store's index where there is one."""
    if store is not None:
        return [(c["name"], c["max_label"]) for c in store.cases], {c["shape"][0] for c in store.cases}
    cases = [(s.name, int(s.mask.max(initial=0))) for samples in loaded.values() for s in samples]
    return cases, {int(s.image.shape[0]) for samples in loaded.values() for s in samples}


def load_dataset(
    name: str,
    data_root: str | Path | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    use_cache: bool = True,
    **options,
) -> SegmentationData:
    """Load a registered dataset and split it into train/val/test; a dataset read from files is decoded once into the
    preprocessed store (datasets.store) and its arrays are memory-mapped from there.

    Args:
        name: registry name (see DATASETS).
        data_root: the dataset's folder in its official layout (not needed for synthetic data).
        val_fraction: share of the training images carved out for validation (seeded).
        seed: seeds the validation/test carving.
        use_cache: read from (and build) the preprocessed store; False decodes every image into memory.
        **options: loader options (e.g. green=True for DRIVE, size=256 for ISIC/Pet).
    """
    spec = get_spec(name)
    store = None
    if spec.needs_root:
        if data_root is None:
            raise DatasetError(f"dataset {name!r} needs --data-root pointing at its folder")
        root = Path(data_root).expanduser()
        if not root.is_dir():
            raise DatasetError(f"{root}: missing folder (the --data-root of dataset {name!r})")
        if use_cache:
            store = open_or_build(name, root, options, spec.loader)
            loaded = store.splits()
        else:
            loaded = _in_memory(spec.loader(root, **options))
    else:
        root = None
        loaded = _in_memory(spec.loader(None, **options))
    if not loaded.get("train"):
        raise DatasetError(f"{root}: no training images found")
    cases, channels = _summary(loaded, store)
    class_names = _class_names(spec, max(top for _, top in cases))
    for case, top in cases:
        if top >= len(class_names):
            raise DatasetError(f"{case}: mask value {top} outside the {len(class_names)} classes")
    if len(channels) > 1:
        raise DatasetError(f"{root}: images have mixed channel counts {sorted(channels)}")
    train, val, test = make_splits(loaded, val_fraction, seed)
    return SegmentationData(name, class_names, spec.background, train, val, test, str(root or "embedded"), dict(options), spec.objects,
                            store=None if store is None else str(store.path))


__all__ = ["DATASETS", "DatasetOption", "DatasetSpec", "dataset_options", "get_spec", "load_dataset", "register_dataset"]
