"""Training crops for the restorer, made in the training process or by DataLoader workers.

Each step takes ``batch_size`` random crops (:func:`~crackscope.unsupervised.data.random_crop`) of images drawn in a
shuffled order that is refilled when it runs out. With no worker the crops are made in the training process from
the run's RNG, exactly as before workers existed. With ``num_workers`` workers each worker makes whole batches
from its own RNG (seeded by the run's seed, the first epoch of this call and the worker's number, so a run is
reproducible for a given number of workers), and batches come in pinned memory when training on CUDA: the GPU
does not wait for JPEG decoding.

Crops travel as uint8 (a quarter of float32's bytes) and become float in [-1, 1] on the training device
(:func:`to_training_tensor`). A source that cannot be read any more (a file changed during training) is left out
from then on and reported in the run's ``bad`` dict, whichever process met it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from crackscope.devices import LoaderSettings
from crackscope.errors import BadInputError
from crackscope.unsupervised.data import Source, random_crop

#: what a worker hands over per step: uint8 crops N x S x S x 3 (None when no source can be read any more),
#: the sources it found unreadable since its last batch, and the reason when none can be read
_Step = tuple[torch.Tensor | None, dict[str, str], str | None]


def load_or_none(source: Source, bad: dict[str, str]) -> np.ndarray | None:
    """The source's pixels, or None when it cannot be read (the reason is kept in ``bad`` under its key)."""
    from crackscope.inputs import INPUT_ERRORS, problem_of

    if source.key in bad:
        return None
    try:
        return source.load()
    except INPUT_ERRORS as exc:
        bad[source.key] = problem_of(exc)
        return None


def next_image(sources: list[Source], order: list[int], rng: np.random.Generator, bad: dict[str, str]) -> np.ndarray:
    """The next image of the shuffled ``order`` (refilled from ``rng`` when empty); a source that cannot be read
    (a file changed since it was checked) is left out from then on, with its reason in ``bad``.

    Raises
    ------
    BadInputError
        If no source can be read any more.
    """
    while True:
        if not order:
            order.extend(rng.permutation(len(sources)).tolist())
        image = load_or_none(sources[order.pop()], bad)
        if image is not None:
            return image
        if all(s.key in bad for s in sources):
            key, problem = next(iter(bad.items()))
            raise BadInputError(
                sources[0].path, f"none of the {len(sources)} training images can be read (first: {key}: {problem})"
            )


def crop_batch(
    sources: list[Source], order: list[int], rng: np.random.Generator, bad: dict[str, str], *, size: int, n: int
) -> np.ndarray:
    """``n`` random ``size`` px crops (uint8 N x S x S x 3), drawn as the training loop always has.

    Raises
    ------
    BadInputError
        If no source can be read any more.
    """
    return np.stack([random_crop(next_image(sources, order, rng, bad), size, rng) for _ in range(n)])


def to_training_tensor(crops: torch.Tensor, device: torch.device, *, channels_last: bool = False) -> torch.Tensor:
    """uint8 N x S x S x 3 crops -> float N x 3 x S x S in [-1, 1] on ``device`` (the paper's Normalize(0.5, 0.5),
    the same numbers as :func:`~crackscope.unsupervised.data.to_tensor`); channels_last keeps the pixel layout
    (no copy), else the result is contiguous."""
    x = (crops.to(device, non_blocking=crops.is_pinned()).float() / 127.5 - 1.0).permute(0, 3, 1, 2)
    return x if channels_last else x.contiguous()


class CropStream(IterableDataset[_Step]):
    """Endless batches of crops for DataLoader workers, one RNG per worker (seeded by seed, epoch and worker)."""

    def __init__(self, sources: list[Source], *, size: int, batch_size: int, seed: int, epoch: int) -> None:
        self.sources, self.size, self.batch_size = sources, size, batch_size
        self.seed, self.epoch = seed, epoch

    def __iter__(self) -> Iterator[_Step]:
        info = get_worker_info()
        worker = 0 if info is None else info.id
        rng = np.random.default_rng([self.seed, self.epoch, 1_000 + worker])
        order: list[int] = []
        bad: dict[str, str] = {}
        told: set[str] = set()
        while True:
            try:
                crops = crop_batch(self.sources, order, rng, bad, size=self.size, n=self.batch_size)
            except BadInputError as exc:  # reported by the training process, naming the data
                yield None, dict(bad), exc.problem
                return
            news = {key: why for key, why in bad.items() if key not in told}
            told.update(news)
            yield torch.from_numpy(crops), news, None


class CropFeed:
    """Batches of uint8 training crops for the restorer: ``next_batch()`` -> tensor N x S x S x 3.

    Parameters
    ----------
    sources : list of Source
        The training images.
    size, batch_size : int
        Crop side and crops per batch.
    rng : numpy.random.Generator
        The run's RNG (used with no worker: the crops are those the training loop always drew).
    bad : dict
        The run's record of sources that could not be read, filled in by every process.
    seed, epoch : int
        The run's seed and the first epoch of this call (each worker's RNG is seeded from them).
    loading : LoaderSettings or None
        DataLoader worker processes (0 or None: crops are made here) and pinned memory (training on CUDA), as
        :func:`crackscope.devices.loader_settings` gives them.
    """

    def __init__(
        self,
        sources: list[Source],
        *,
        size: int,
        batch_size: int,
        rng: np.random.Generator,
        bad: dict[str, str],
        seed: int = 0,
        epoch: int = 0,
        loading: LoaderSettings | None = None,
    ) -> None:
        self.sources, self.size, self.batch_size = sources, size, batch_size
        self.rng, self.bad = rng, bad
        self.order: list[int] = []
        self._stream: Iterator[_Step] | None = None
        if loading is not None and loading.num_workers > 0:
            stream = CropStream(sources, size=size, batch_size=batch_size, seed=seed, epoch=epoch)
            loader = DataLoader(stream, batch_size=None, num_workers=loading.num_workers, pin_memory=loading.pin_memory)
            self._stream = iter(loader)

    def next_batch(self) -> torch.Tensor:
        """The next batch of crops (uint8 N x S x S x 3).

        Raises
        ------
        BadInputError
            If no training image can be read any more.
        """
        if self._stream is None:
            crops = crop_batch(self.sources, self.order, self.rng, self.bad, size=self.size, n=self.batch_size)
            return torch.from_numpy(crops)
        batch, news, fatal = next(self._stream)
        self.bad.update(news)
        if batch is None:
            raise BadInputError(self.sources[0].path, fatal or "no training image can be read")
        return batch

    def close(self) -> None:
        """Stop the workers (if any)."""
        self._stream = None
