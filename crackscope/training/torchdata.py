"""A torch Dataset over labelled items: decode once, resize (INTER_AREA), cache, augment in training."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from crackscope.errors import BadInputError
from crackscope.training.options import DEFAULT_CACHE_LIMIT

log = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor]


class Item(Protocol):
    """What ``ItemDataset`` needs of an item (``crackscope.data.items.LabelledItem`` is one)."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> int: ...

    def load(self) -> np.ndarray: ...


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an HxWx3 uint8 image to size x size with OpenCV's area interpolation."""
    if image.shape[0] == size and image.shape[1] == size:
        return np.ascontiguousarray(image)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def to_batch_tensor(images: np.ndarray) -> torch.Tensor:
    """N x S x S x 3 uint8 -> float N x 3 x S x S in 0..255, channels_last (a cheap permuted view)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()


class ItemDataset(Dataset[Batch]):
    """Labelled items as (float 3xSxS tensor in 0..255, float label) pairs.

    Every item is decoded and resized once; when the whole set fits ``cache_limit`` bytes the resized
    pixels stay in memory, so epochs after the first cost no decoding. Items that cannot be read are
    reported and dropped (``skipped``) when the cache is filled. Augmentation (a preset of
    ``crackscope.data.augment.augment_pair``) is drawn from a generator seeded by (seed, epoch, index),
    so a run is reproducible whatever the number of loader workers.
    """

    def __init__(
        self,
        items: Sequence[Item],
        *,
        image_size: int,
        augment: str | None = None,
        seed: int = 0,
        cache_limit: int = DEFAULT_CACHE_LIMIT,
        threads: int = 2,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        if image_size < 8:
            raise ValueError(f"image size must be at least 8, got {image_size}")
        self.items = list(items)
        self.image_size = int(image_size)
        self.augment = None if augment in (None, "none") else augment
        self.seed = int(seed)
        self.epoch = 0
        self.skipped: list[tuple[str, str]] = []
        self._cache: np.ndarray | None = None
        need = len(self.items) * self.image_size * self.image_size * 3
        if self.items and need <= cache_limit:
            self._fill_cache(threads=threads, on_progress=on_progress)
        self.labels = np.array([int(it.label) for it in self.items], dtype=np.int64)

    @property
    def cached(self) -> bool:
        return self._cache is not None

    def _load(self, item: Item) -> np.ndarray:
        return resize_square(item.load(), self.image_size)

    def _fill_cache(self, *, threads: int, on_progress: Callable[[int], None] | None) -> None:
        s = self.image_size
        cache = np.empty((len(self.items), s, s, 3), np.uint8)
        ok = np.ones(len(self.items), bool)

        def work(i: int) -> None:
            try:
                cache[i] = self._load(self.items[i])
            except BadInputError as exc:
                ok[i] = False
                self.skipped.append((self.items[i].key, exc.problem))

        # Decoding (PIL/OpenCV) releases the GIL, so threads overlap it on both cores.
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            for n, _ in enumerate(pool.map(work, range(len(self.items))), 1):
                if on_progress is not None:
                    on_progress(n)
        for key, problem in self.skipped:
            log.warning("skipped %s: %s", key, problem)
        if not ok.all():
            self.items = [it for it, good in zip(self.items, ok, strict=True) if good]
            cache = cache[ok]
        self._cache = cache

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose augmentation draws are used."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def _pixels(self, index: int) -> np.ndarray:
        if self._cache is not None:
            pixels: np.ndarray = self._cache[index]
            return pixels
        return self._load(self.items[index])

    def _augmented(self, index: int) -> np.ndarray:
        image = self._pixels(index)
        if self.augment is None:
            return image
        from crackscope.data.augment import augment_pair

        rng = np.random.default_rng([self.seed, self.epoch, index])
        image, _ = augment_pair(image, None, preset=self.augment, rng=rng)
        if image.shape[:2] != (self.image_size, self.image_size):
            image = resize_square(image, self.image_size)
        return np.ascontiguousarray(image, dtype=np.uint8)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole batch at once (the DataLoader calls this with a batch sampler)."""
        idx = list(indices)
        if self._cache is not None and self.augment is None:
            pixels = self._cache[np.asarray(idx, dtype=np.int64)]
        else:
            size = self.image_size
            pixels = np.stack([self._augmented(i) for i in idx]) if idx else np.empty((0, size, size, 3), np.uint8)
        labels = torch.from_numpy(self.labels[np.asarray(idx, dtype=np.int64)].astype(np.float32))
        return to_batch_tensor(pixels), labels


class EpochShuffleSampler(Sampler[int]):
    """A permutation drawn from (seed, epoch): identical across reruns and after resuming."""

    def __init__(self, n: int, *, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def _collate(batch: Batch) -> Batch:
    return batch


def make_loader(
    dataset: ItemDataset,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
) -> DataLoader[Batch]:
    """A DataLoader that fetches whole batches through ``ItemDataset.__getitems__``.

    With ``shuffle`` the order comes from an ``EpochShuffleSampler`` (``loader.sampler.set_epoch``).

    Raises
    ------
    ValueError
        If ``batch_size`` is not positive or ``num_workers`` is not 0 or 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    if num_workers not in (0, 1):
        raise ValueError("use 0 or 1 loader workers on this machine (2 cores)")
    sampler = EpochShuffleSampler(len(dataset), seed=seed) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=_collate,  # type: ignore[arg-type]  # __getitems__ hands over a whole batch, not a list
        drop_last=drop_last,
        persistent_workers=False,
    )
