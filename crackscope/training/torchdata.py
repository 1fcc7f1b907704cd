"""A torch Dataset over labelled items: decode once, resize (INTER_AREA), cache, augment in training.

Training batches come either in a seeded shuffle (``EpochShuffleSampler``) or, with several data sources,
from ``SourceBalancedSampler``: each (source, class) cell is drawn with a probability proportional to its
source's weight divided by the number of cells of that source (``balanced_probabilities``), so a large
source does not drown a small one and each source's classes weigh alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from crackscope.errors import BadInputError
from crackscope.training.options import DEFAULT_CACHE_LIMIT

if TYPE_CHECKING:
    from crackscope.data.augment import RobustAugment

log = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor]


class Item(Protocol):
    """What ``ItemDataset`` needs of an item (``crackscope.data.items.LabelledItem`` is one)."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> int: ...

    @property
    def source(self) -> str: ...

    def load(self) -> np.ndarray: ...


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an HxWx3 uint8 image to size x size with OpenCV's area interpolation."""
    if image.shape[0] == size and image.shape[1] == size:
        return np.ascontiguousarray(image)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def photo_input(image: np.ndarray, size: int) -> np.ndarray:
    """A photo as a classifier sees it when asked about it (``predict``, ``evaluate``, ``explain``, the web API):
    fill without image data around it painted over (:mod:`crackscope.maps.no_data`: the black corners of a photo
    turned to level read as cracks to a classifier that never saw them), then :func:`resize_square`. Training
    items are resized as they are."""
    from crackscope.maps.no_data import without_no_data

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 and image.size:
        image = without_no_data(image)
    return resize_square(image, size)


def to_batch_tensor(images: np.ndarray) -> torch.Tensor:
    """N x S x S x 3 uint8 -> float N x 3 x S x S in 0..255, channels_last (a cheap permuted view)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()


class ItemDataset(Dataset[Batch]):
    """Labelled items as (float 3xSxS tensor in 0..255, float label) pairs.

    Every item is decoded and resized once; when the whole set fits ``cache_limit`` bytes the resized
    pixels stay in memory, so epochs after the first cost no decoding. Items that cannot be read are
    reported and dropped (``skipped``) when the cache is filled. Augmentation (a preset of
    ``crackscope.data.augment.augment_pair``, or a ``RobustAugment``) is drawn from a generator seeded by
    (seed, epoch, index), so a run is reproducible whatever the number of loader workers. ``labels`` and
    ``sources`` (each item's ``source``, ``""`` when it has none) follow the items kept.
    """

    def __init__(
        self,
        items: Sequence[Item],
        *,
        image_size: int,
        augment: str | RobustAugment | None = None,
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
        self.sources = tuple(it.source for it in self.items)

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


def balanced_probabilities(
    sources: Sequence[str], labels: Sequence[int], *, weights: Mapping[str, float] | None = None
) -> np.ndarray:
    """The probability of drawing each item when sampling is balanced across sources and classes.

    A source ``s`` with weight ``w_s`` is drawn with probability ``w_s / W`` (``W``: the sum of the weights of
    the sources present), then one of its ``k_s`` non-empty (source, class) cells uniformly, then one of the
    ``n_sc`` items of that cell: item ``i`` of cell (s, c) has probability ``w_s / (W * k_s * n_sc)``. So a
    cell's chance is proportional to its source's weight over the number of cells of that source.

    Raises
    ------
    ValueError
        If the lengths differ, there are no items, a weight is not a finite number > 0, or a source has no
        weight in ``weights`` (None: every source weighs 1).

    Examples
    --------
    >>> balanced_probabilities(["a", "a", "a", "b"], [1, 0, 0, 1], weights={"a": 1.0, "b": 1.0}).tolist()
    [0.25, 0.125, 0.125, 0.5]
    """
    if len(sources) != len(labels):
        raise ValueError(f"sources ({len(sources)}) and labels ({len(labels)}) differ in length")
    if not sources:
        raise ValueError("no items to sample from")
    cells: dict[str, dict[int, int]] = {}
    for source, label in zip(sources, labels, strict=True):
        cell = cells.setdefault(source, {})
        cell[int(label)] = cell.get(int(label), 0) + 1
    chosen: dict[str, float] = {}
    for source in cells:
        weight = 1.0 if weights is None else weights.get(source)
        if weight is None:
            raise ValueError(
                f"source {source!r} has no weight (weights are given for {', '.join(map(repr, weights or {}))})"
            )
        if isinstance(weight, bool) or not np.isfinite(weight) or weight <= 0:
            raise ValueError(f"the weight of source {source!r} must be a finite number > 0, got {weight!r}")
        chosen[source] = float(weight)
    total = sum(chosen.values())
    return np.array(
        [chosen[s] / (total * len(cells[s]) * cells[s][int(y)]) for s, y in zip(sources, labels, strict=True)],
        dtype=np.float64,
    )


class SourceBalancedSampler(Sampler[int]):
    """Indices drawn with replacement by ``balanced_probabilities``, from a generator seeded by (seed, epoch):
    identical across reruns and after resuming. ``num_samples`` (None: the number of items) makes an epoch.

    Under ``torchrun`` each of ``num_replicas`` processes takes its own share of one draw: the draw holds
    ``num_samples`` rounded up to a multiple of ``num_replicas`` indices (every process takes the same number
    of steps, as with ``DistributedSampler``), and process ``rank`` takes every ``num_replicas``-th of them,
    starting at its rank. Every process draws the same indices from the same seed, so the shares are disjoint
    slices of the draw a single process would make.

    Raises
    ------
    ValueError
        As ``balanced_probabilities``, if ``num_samples`` is not positive, or if ``rank`` is not in
        ``[0, num_replicas)``.

    Examples
    --------
    >>> whole = SourceBalancedSampler(["a"] * 4 + ["b"] * 4, [0, 1] * 4, seed=3)
    >>> shares = [list(SourceBalancedSampler(["a"] * 4 + ["b"] * 4, [0, 1] * 4, seed=3, rank=r, num_replicas=2))
    ...           for r in (0, 1)]
    >>> shares[0] + shares[1] == list(whole)[0::2] + list(whole)[1::2]
    True
    """

    def __init__(
        self,
        sources: Sequence[str],
        labels: Sequence[int],
        *,
        weights: Mapping[str, float] | None = None,
        num_samples: int | None = None,
        seed: int = 0,
        rank: int = 0,
        num_replicas: int = 1,
    ) -> None:
        self.probabilities = balanced_probabilities(sources, labels, weights=weights)
        self.num_samples = len(self.probabilities) if num_samples is None else int(num_samples)
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas), got rank {rank} of {num_replicas}")
        self.seed = int(seed)
        self.rank = int(rank)
        self.num_replicas = int(num_replicas)
        self.epoch = 0
        self._weights = torch.from_numpy(self.probabilities)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose draws are used."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        total = len(self) * self.num_replicas
        drawn = torch.multinomial(self._weights, total, replacement=True, generator=g)
        return iter(drawn[self.rank :: self.num_replicas].tolist())

    def __len__(self) -> int:
        return -(-self.num_samples // self.num_replicas)  # this process's share, rounded up


def balanced_sampler(
    dataset: ItemDataset,
    *,
    weights: Mapping[str, float] | None = None,
    seed: int = 0,
    num_samples: int | None = None,
    rank: int = 0,
    num_replicas: int = 1,
) -> SourceBalancedSampler:
    """A ``SourceBalancedSampler`` over the items ``dataset`` kept (its ``sources`` and ``labels``); with
    ``num_replicas`` > 1, the share of process ``rank``.

    Raises
    ------
    ValueError
        As ``SourceBalancedSampler`` (an empty dataset, a source without a weight, ...).
    """
    return SourceBalancedSampler(
        dataset.sources,
        dataset.labels.tolist(),
        weights=weights,
        num_samples=num_samples,
        seed=seed,
        rank=rank,
        num_replicas=num_replicas,
    )


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
    sampler: Sampler[int] | None = None,
    pin_memory: bool = False,
) -> DataLoader[Batch]:
    """A DataLoader that fetches whole batches through ``ItemDataset.__getitems__``.

    With ``shuffle`` the order comes from an ``EpochShuffleSampler`` (``loader.sampler.set_epoch``); a
    ``sampler`` of one's own (a ``SourceBalancedSampler``, a ``DistributedSampler``) is used instead, with
    ``shuffle=False``; with neither the items come in order. ``num_workers`` worker processes fetch the
    batches (0: this process), in pinned memory with ``pin_memory`` (for a CUDA device). Workers are made
    anew every epoch: the dataset's augmentation epoch is set in this process, and a kept worker would not
    see it.

    Raises
    ------
    ValueError
        If ``batch_size`` is not positive, ``num_workers`` is negative, or both ``shuffle`` and ``sampler``
        are given.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    if isinstance(num_workers, bool) or num_workers < 0:
        raise ValueError(f"num_workers must be a whole number >= 0, got {num_workers!r}")
    if shuffle and sampler is not None:
        raise ValueError("give either shuffle=True or a sampler, not both")
    if shuffle:
        sampler = EpochShuffleSampler(len(dataset), seed=seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=_collate,  # type: ignore[arg-type]  # __getitems__ hands over a whole batch, not a list
        pin_memory=pin_memory,
        drop_last=drop_last,
        persistent_workers=False,
    )
