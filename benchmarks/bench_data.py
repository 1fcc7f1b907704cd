"""Data pipeline benchmark on the real sets in ../shared/datasets (never copied into the repo).

Measures, each as the median of --repeats runs:
- reading the datasets (load_dataset, dataset_items) and splitting them (split_items);
- loading every DeepCrack patch through LabelledItem.load() with the photo cache versus decoding the
  photo again for every patch (what a naive loader does) -> side-by-side ratio;
- patch labelling with the summed-area table (label_boxes) versus summing each box of the mask;
- augment_pair throughput per preset on 227 px Özgenel images.

    .venv/bin/python benchmarks/bench_data.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()

    from crackscope.data.augment import augment_pair
    from crackscope.data.items import dataset_items
    from crackscope.data.layouts import load_dataset
    from crackscope.data.patches import label_boxes, patch_boxes
    from crackscope.data.splits import split_items
    from crackscope.io import read_image, read_mask

    oz, dc = args.shared / "ozgenel-10k", args.shared / "deepcrack-train"
    rows: list[tuple[str, str]] = []

    t, ds = median_time(lambda: load_dataset(oz), args.repeats)
    rows.append((f"load_dataset Özgenel ({len(ds)} files, header check)", f"{t:.2f} s"))
    t, oz_items = median_time(lambda: dataset_items(oz), args.repeats)
    t_split, _ = median_time(lambda: split_items(oz_items, seed=0), args.repeats)
    rows.append((f"split_items Özgenel ({len(oz_items)} items, {len(oz_items)} groups)", f"{t_split:.2f} s"))
    t, dc_items = median_time(lambda: dataset_items(dc), args.repeats)
    rows.append((f"dataset_items DeepCrack (300 photos -> {len(dc_items)} patches, reads masks)", f"{t:.2f} s"))
    t_split, _ = median_time(lambda: split_items(dc_items, seed=0), args.repeats)
    rows.append((f"split_items DeepCrack ({len(dc_items)} patches, 300 groups)", f"{t_split:.3f} s"))

    # Loading every patch: cached photo decode versus decoding the photo for every patch.
    def cached() -> int:
        dc_items.photo_cache.clear()  # the cache dataset_items made for these items
        return sum(item.load().shape[0] for item in dc_items)

    def naive() -> int:
        total = 0
        for item in dc_items:
            y, x, h, w = item.box
            total += read_image(item.path)[y : y + h, x : x + w].copy().shape[0]
        return total

    t_cached, _ = median_time(cached, args.repeats)
    t_naive, _ = median_time(naive, 1)  # slow: one run
    rows.append((f"load all {len(dc_items)} DeepCrack patches, photo cache", f"{t_cached:.2f} s"))
    rows.append(("same, decoding the photo for every patch (1 run)", f"{t_naive:.2f} s"))
    rows.append(("ratio naive / cached", f"{t_naive / t_cached:.1f}x"))

    # Labelling: summed-area table versus a sum per box (and per grown box) of the mask.
    masks = [read_mask(p) for p in sorted((dc / "masks").glob("*.png"))[:100]]

    def table() -> int:
        return sum(
            len(label_boxes(m, patch_boxes(*m.shape, size=32, stride=16), min_crack_pixels=5, margin=8)) for m in masks
        )

    def per_box() -> int:
        n = 0
        for m in masks:
            for y, x, h, w in patch_boxes(*m.shape, size=32, stride=16):
                inside = m[y : y + h, x : x + w].sum()
                if inside < 5:
                    m[max(y - 8, 0) : y + h + 8, max(x - 8, 0) : x + w + 8].any()
                n += 1
        return n

    t_table, n_boxes = median_time(table, args.repeats)
    t_box, _ = median_time(per_box, args.repeats)
    rows.append((f"label {n_boxes} boxes (32 px, stride 16) on 100 masks: summed-area table", f"{t_table:.3f} s"))
    rows.append(("same, numpy sum per box", f"{t_box:.3f} s"))
    rows.append(("ratio per-box / table", f"{t_box / t_table:.1f}x"))

    images = [read_image(p) for p in sorted((oz / "cracked").glob("*.jpg"))[:200]]
    rng = np.random.default_rng(0)
    for preset in ("none", "rot90-flip", "keras-v3"):
        t, _ = median_time(lambda p=preset: [augment_pair(im, None, preset=p, rng=rng) for im in images], args.repeats)
        rows.append((f"augment_pair {preset}, 227 px image", f"{len(images) / t:.0f} images/s"))
    mask = np.zeros(images[0].shape[:2], bool)
    t, _ = median_time(lambda: [augment_pair(im, mask, preset="keras-v3", rng=rng) for im in images], args.repeats)
    rows.append(("augment_pair keras-v3, 227 px image + mask", f"{len(images) / t:.0f} pairs/s"))

    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")


if __name__ == "__main__":
    main()
