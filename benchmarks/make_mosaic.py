"""A 13 MP test photo with real cracks: the last 64 DeepCrack photos (name order; the 60 held-out and 4 training
photos) tiled 8 x 8 into a 4352x3072 mosaic, with the mosaic of their masks.

    .venv/bin/python benchmarks/make_mosaic.py OUT      # writes OUT/in/mosaic.png and OUT/gt/mosaic.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from crackscope.io import read_image, read_mask, write_image_atomic

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "deepcrack-train"


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-out/mosaic")
    photos = sorted((DATA / "images").glob("*.jpg"))[-64:]
    images = [read_image(p) for p in photos]
    masks = [read_mask(DATA / "masks" / f"{p.stem}.png") for p in photos]
    big = np.concatenate([np.concatenate(images[r * 8 : (r + 1) * 8], axis=1) for r in range(8)], axis=0)
    truth = np.concatenate([np.concatenate(masks[r * 8 : (r + 1) * 8], axis=1) for r in range(8)], axis=0)
    write_image_atomic(out / "in" / "mosaic.png", big)
    write_image_atomic(out / "gt" / "mosaic.png", truth)
    print(f"{big.shape[1]}x{big.shape[0]} mosaic -> {out}")


if __name__ == "__main__":
    main()
