"""Training crops for pixel models: an endless stream of (image, label) batches that a DataLoader can feed from
worker processes, so a GPU is not kept waiting on the cropping.

Each batch holds ``batch_size`` random crops of ``crop`` px (a share ``positive_crops`` of them centred near a
pseudo-labelled crack pixel), each turned by a random multiple of 90 degrees, maybe flipped, and with a random
brightness and contrast; or, with ``augment`` set, changed by one draw of that
:class:`~crackscope.data.augment.RobustAugment` (the classifier's photometric and geometric augmentation; the
labels move with the image and keep their values). In the main process (``num_workers=0``) the stream draws from
one generator seeded with ``seed``, so a training run is the same as before this module existed; worker ``i``
draws from ``(seed, i + 1)``. The photos are held in memory (decoded once by the caller); workers share them by fork.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from crackscope.data.augment import RobustAugment, robust_augment_labels
from crackscope.maps.selftrain import IGNORE


def _augment(img: np.ndarray, lab: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    k = int(rng.integers(4))
    img, lab = np.rot90(img, k), np.rot90(lab, k)
    if rng.random() < 0.5:
        img, lab = img[:, ::-1], lab[:, ::-1]
    img = img.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
    return np.clip(img, 0, 255), lab


def _crop(
    img: np.ndarray, lab: np.ndarray, size: int, rng: np.random.Generator, on_positive: bool
) -> tuple[np.ndarray, np.ndarray]:
    h, w = lab.shape
    if h < size or w < size:
        py, px = max(0, size - h), max(0, size - w)
        img = cv2.copyMakeBorder(img, 0, py, 0, px, cv2.BORDER_REFLECT_101)
        lab = np.pad(lab, ((0, py), (0, px)), constant_values=IGNORE)
        h, w = lab.shape
    ys, xs = np.nonzero(lab == 1) if on_positive else ((), ())
    if len(ys):
        i = int(rng.integers(len(ys)))
        y0 = int(np.clip(ys[i] - size // 2 + rng.integers(-size // 4, size // 4 + 1), 0, h - size))
        x0 = int(np.clip(xs[i] - size // 2 + rng.integers(-size // 4, size // 4 + 1), 0, w - size))
    else:
        y0, x0 = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    return img[y0 : y0 + size, x0 : x0 + size], lab[y0 : y0 + size, x0 : x0 + size]


class PixelCrops(IterableDataset[tuple[torch.Tensor, torch.Tensor]]):
    """Endless batches ``(x, y)``: ``x`` float N x 3 x crop x crop (0..255), ``y`` uint8 N x 1 x crop x crop labels
    (1 crack, 0 background, ``IGNORE`` unlabelled), from uint8 HxWx3 ``images`` and their uint8 ``labels``. See the
    module docstring."""

    def __init__(
        self,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        *,
        crop: int,
        batch_size: int,
        positive_crops: float,
        seed: int,
        augment: RobustAugment | None = None,
    ) -> None:
        self.images, self.labels = images, labels
        self.crop, self.batch_size, self.positive_crops, self.seed = crop, batch_size, positive_crops, seed
        self.augment = augment
        self.has_pos = [i for i, lab in enumerate(labels) if (lab == 1).any()]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        rng = np.random.default_rng(self.seed if info is None else [self.seed, info.id + 1])
        while True:
            xb, yb = [], []
            for _ in range(self.batch_size):
                on_pos = bool(self.has_pos) and rng.random() < self.positive_crops
                i = int(rng.choice(self.has_pos)) if on_pos else int(rng.integers(len(self.images)))
                img, lab = _crop(self.images[i], self.labels[i], self.crop, rng, on_pos)
                if self.augment is None:
                    img, lab = _augment(img, lab, rng)
                else:
                    img, lab = robust_augment_labels(img, lab, options=self.augment, rng=rng)
                xb.append(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
                yb.append(np.ascontiguousarray(lab))
            yield torch.from_numpy(np.stack(xb)), torch.from_numpy(np.stack(yb))[:, None]


def crop_loader(
    crops: PixelCrops, *, num_workers: int, pin_memory: bool
) -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
    """A DataLoader over the stream (already batched): ``num_workers`` processes, pinned memory for a GPU."""
    return DataLoader(
        crops, batch_size=None, num_workers=num_workers, pin_memory=pin_memory, persistent_workers=num_workers > 0
    )
