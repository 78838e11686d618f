"""`python -m datasets.inspect --dataset NAME --data-root PATH [--json]`: print a dataset's fingerprint."""
from __future__ import annotations

import argparse
import json
import sys

from .fingerprint import compute_fingerprint
from .registry import DATASETS, load_dataset
from .types import DatasetError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load the dataset, print its fingerprint; a data error is one line on stderr, exit 2."""
    parser = argparse.ArgumentParser(prog="python -m datasets.inspect", description=__doc__)
    parser.add_argument("--dataset", default="synthetic", help=f"one of: {', '.join(DATASETS)}")
    parser.add_argument("--data-root", default=None, help="the dataset's folder in its official layout")
    parser.add_argument("--num-classes", type=int, default=None, help="classes of a `folder` dataset (default: detected)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    options = {"num_classes": args.num_classes} if args.num_classes else {}
    try:
        data = load_dataset(args.dataset, args.data_root, **options)
        fp = compute_fingerprint(data)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        # train_images counts every annotated training image (before the validation carve-out).
        print(json.dumps(fp.to_dict()))
        return 0
    print(f"dataset        {fp.name} ({data.source})")
    print(f"images         {fp.total_images} annotated: {fp.train_images} training ({fp.val_images} held out for validation), {fp.test_images} test")
    print(f"shape          median {fp.image_shape[0]}x{fp.image_shape[1]} (min {fp.min_shape}, max {fp.max_shape}), {fp.channels} channel(s)")
    print(f"intensity      mean {[round(v, 3) for v in fp.intensity_mean]}, std {[round(v, 3) for v in fp.intensity_std]}")
    print("classes        " + ", ".join(f"{k} {v:.1%}" for k, v in fp.class_fraction.items()) + f" (of valid pixels; valid = {fp.valid_fraction:.1%} of all)")
    print(f"patch sizes    {fp.feasible_patch_sizes}")
    print(f"depths         {fp.feasible_depths} (patch / 2^depth >= 4)")
    print(f"structures     about {fp.structure_width:.0f} px wide -> patch {fp.recommended_patch}, depth up to {fp.recommended_depth} "
          f"(the study's and arch search's default --patch-size auto)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
