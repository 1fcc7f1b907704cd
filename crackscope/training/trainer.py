"""``train``: fit a registered classifier on any dataset layout and write a resumable run folder.

A run goes through four steps, each a function here: the data (items, split, decoded datasets), the
model with its optimiser and schedule, the epoch loop (checkpointed after every epoch), and the final
measurement with the best weights. Torch's thread count and global RNG state are restored when ``train``
returns or raises.

The run trains on ``options.device`` (``auto``: a CUDA GPU when one is visible): batches come from DataLoader
workers (``options.num_workers``) in pinned memory on CUDA, under the run's autocast precision. Started by
``torchrun`` with several processes, it trains with DistributedDataParallel (:mod:`crackscope.training.distributed`):
each process trains on its share of every epoch (a ``DistributedSampler``; ``batch_size`` is per process), the
first process validates, writes the run folder and reports progress, and the others follow its decisions.

The data is one folder or several data sources (``crackscope.data.sources``): then each source is split on its
own, training batches are drawn balanced across sources and classes (``SourceBalancedSampler``, by the sources'
weights; under torchrun each process takes its share of one seeded draw), the threshold is chosen on the pooled
validation items of the sources, and ``metrics.json`` has the scores of each source.

Progress goes to an ``on_progress`` callback (``crackscope.progress.OnProgress``), never drawn here; the epoch
summaries and the reasons a run stops early are logged (``logging``, this module's logger, level INFO).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from crackscope.data.items import LabelledItem, PhotoCache
from crackscope.data.sources import DataSource
from crackscope.errors import BadInputError
from crackscope.io import versions, write_json_atomic
from crackscope.progress import OnProgress, report
from crackscope.training import checkpoint
from crackscope.training.averaging import averaged_copy
from crackscope.training.distributed import (
    ProcessGroup,
    agree_max,
    agree_mean,
    barrier,
    broadcast,
    distributed_training,
)
from crackscope.training.history import plot_curves, write_history_csv
from crackscope.training.loop import (
    EpochOptions,
    l2_penalty_of,
    loss_from_logits,
    predict_logits,
    sigmoid,
    train_epoch,
)
from crackscope.training.metrics import binary_metrics, expected_calibration_error, per_source_metrics
from crackscope.training.optim import make_optimizer, make_scheduler
from crackscope.training.options import TrainOptions, TrainSettings
from crackscope.training.progress import StepProgress, counted
from crackscope.training.run import AVERAGE_FILE, LAST_WEIGHTS_FILE, WEIGHTS_FILE, load_weights, save_weights
from crackscope.training.splitting import (
    SKIPPED_FILE,
    SPLIT_FILE,
    check_two_classes,
    load_items_and_split,
    record_skipped,
)
from crackscope.training.threshold import threshold_for_sources
from crackscope.training.torchdata import (
    Batch,
    EpochShuffleSampler,
    ItemDataset,
    SourceBalancedSampler,
    balanced_sampler,
    make_loader,
)

log = logging.getLogger(__name__)

Row = dict[str, float]  # one line of history.csv (a metric that cannot be computed is left out: empty cell)
DEFAULT_OPTIONS = TrainOptions()  # every field at its default: the model's recipe decides
RunInput = Path | tuple[DataSource, ...]  # one data folder, or the data sources of a run


def train(
    data: str | Path | Sequence[DataSource] | None,
    *,
    out: str | Path,
    options: TrainOptions = DEFAULT_OPTIONS,
    resume: bool = False,
    on_progress: OnProgress | None = None,
) -> Path:
    """Train a registered classifier on DATA and write a run folder.

    Parameters
    ----------
    data : str, Path, sequence of DataSource, or None
        A dataset folder in any layout ``crackscope.data`` reads; image + mask sets are cut into labelled
        patches. Or several data sources (``crackscope.data.sources.read_sources``): each is split on its own,
        training batches are balanced across sources and classes by the sources' weights, and ``metrics.json``
        has each source's scores. None only with ``resume``: the data the interrupted run was started on (its
        recorded sources, or its folder).
    out : str or Path
        The run folder: ``config.json``, ``model.safetensors`` (best weights: of the average when
        ``options.weight_average`` is set), ``last.safetensors``, ``average.safetensors`` (when averaging) and
        ``state.pt`` (for resuming), ``history.csv``, ``curves.png``, ``metrics.json``, ``split.csv``.
    options : TrainOptions
        The model and every training setting; fields left None take the model's recipe defaults
        (default ``TrainOptions()``: the default model with its recipe). ``options.device`` says where it
        trains (``auto``: a CUDA GPU when one is visible, else MPS, else the CPU).
    resume : bool
        Continue an interrupted run in ``out``: its stored settings win, except that ``options.epochs``
        (when set) may raise the number of epochs. Without a resumable run in ``out`` a new run starts.
    on_progress : OnProgress or None
        Told ``(task, done, total)`` of the decoding (``decoding train``...) and of every training step
        (``epoch i/N``); an epoch stopped by the time limit ends at the steps it took (``(task, done, done)``).
        Under torchrun only the first process tells it.

    Returns
    -------
    Path
        The run folder ``out``.

    Raises
    ------
    ValueError
        If the model is not registered or refuses ``model_options``, ``target_recall`` is set and the
        validation split holds no cracked sample, DATA is an empty sequence or two sources share a name,
        or DATA is None with no run to resume.
    TypeError
        If DATA is a sequence of something other than ``DataSource`` values.
    BadInputError
        If DATA (or a source) cannot be read or holds no labelled sample, a given split CSV does not fit it,
        or the stored state of the run to resume is unreadable.
    DeviceError
        If ``options.device`` is not on this machine (or names one GPU for several ``torchrun`` processes).
    """
    out = Path(out)
    given = _run_input(data)
    with distributed_training(options.device) as (device, group):
        resuming = broadcast(resume and checkpoint.has_state(out), group)  # before the first process writes
        source: RunInput | None
        if resuming:
            settings, stored = checkpoint.read_settings(out)
            if options.epochs is not None:
                settings = settings.with_epochs(options.epochs)
            source = given if given is not None else stored
        else:
            settings = _with_source_defaults(options, given).resolve()
            source = given
        if source is None:
            raise ValueError("data is needed (None only continues a run whose config.json records its data)")
        place = _Place(device, group)
        told = on_progress if place.main else None
        with torch_threads(settings.threads), _device_rng(device), _files_of(out, place, resume=resuming) as files:
            return _fit(source, out, settings, resume=resuming, on_progress=told, place=place.at(files))


#: the augmentation of a run over several sources when none is named: chosen by leave-one-source-out accuracy
#: against crackfast's ``rot90-flip`` (``benchmarks/bench_sources.py``, BENCHMARKS.md "Augmentation chosen by
#: leave-one-source-out": better on every held-out source, mean 89.9 % against 86.4 %)
MULTI_SOURCE_AUGMENT = "robust"


def _with_source_defaults(options: TrainOptions, data: RunInput | None) -> TrainOptions:
    """``options`` with :data:`MULTI_SOURCE_AUGMENT` when DATA is several sources and no augmentation is named."""
    if isinstance(data, tuple) and len(data) > 1 and options.augment is None:
        return replace(options, augment=MULTI_SOURCE_AUGMENT)
    return options


def _run_input(data: str | Path | Sequence[DataSource] | None) -> RunInput | None:
    """DATA as a folder or a tuple of data sources.

    Raises
    ------
    ValueError
        If DATA is an empty sequence.
    TypeError
        If DATA is a sequence of something other than ``DataSource`` values.
    """
    if data is None:
        return None
    if isinstance(data, str | Path):
        return Path(data)
    sources = tuple(data)
    if not sources:
        raise ValueError("no data sources given")
    odd = [s for s in sources if not isinstance(s, DataSource)]
    if odd:
        raise TypeError(
            f"data sources must be DataSource values (crackscope.data.sources.read_sources makes them), got {odd[0]!r}"
        )
    return sources


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch CPU threads; restore the previous count and the RNG state after.

    Raises
    ------
    ValueError
        If ``threads`` is not positive.
    """
    if threads < 1:
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _device_rng(device: torch.device) -> Iterator[None]:
    """Restore the GPU's RNG state after the block, as ``torch_threads`` does the CPU's."""
    if device.type != "cuda":
        yield
        return
    with torch.random.fork_rng(devices=[device]):
        yield


@dataclass(frozen=True)
class _Place:
    """Where this process trains (device, process group) and the folder it writes: the run folder for the
    first process, a scratch folder for the others (their copies of split.csv and skipped.txt)."""

    device: torch.device
    group: ProcessGroup | None
    files: Path = Path()

    @property
    def main(self) -> bool:
        return self.group is None or self.group.is_main

    def at(self, files: Path) -> _Place:
        return _Place(self.device, self.group, files)


@contextlib.contextmanager
def _files_of(out: Path, place: _Place, *, resume: bool) -> Iterator[Path]:
    """The folder this process writes to: ``out`` for the first process; for the others a scratch folder, removed
    afterwards (on resume it starts with the run's split.csv, so every process trains on the same split)."""
    if place.main:
        yield out
        return
    with tempfile.TemporaryDirectory(prefix="crackscope-rank-") as scratch:
        files = Path(scratch)
        if resume and (out / SPLIT_FILE).is_file():
            shutil.copyfile(out / SPLIT_FILE, files / SPLIT_FILE)
        yield files


@dataclass(frozen=True)
class _RunData:
    """The items of each split, what config.json records about them, their decoded datasets, and the data sources
    they come from (empty for one data folder)."""

    splits: Mapping[str, list[LabelledItem]]
    info: Mapping[str, object]
    train: ItemDataset
    val: ItemDataset
    test: ItemDataset
    seconds: float
    sources: tuple[DataSource, ...] = ()


@dataclass(frozen=True)
class _Loaders:
    """The run's batches (the training batches of this process), and how many training batches make an epoch."""

    train: DataLoader[Batch]
    val: DataLoader[Batch]
    test: DataLoader[Batch]
    steps_per_epoch: int


@dataclass
class _Model:
    """The network and everything that trains it; ``state`` is where training stands."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    loaders: _Loaders
    state: checkpoint.TrainState
    clock: _TrainingClock
    l2: Callable[[], torch.Tensor] | None  # the L2 term of ``kept``, added to the validation loss
    parameters: tuple[int, int]  # all, trainable
    l2_on_kernels: dict[str, float] | None
    place: _Place
    trained: nn.Module  # what trains: ``net``, or its DistributedDataParallel wrapper
    average: AveragedModel | None = None  # the weights averaged over the steps, when the run averages

    @property
    def kept(self) -> nn.Module:
        """The network that is validated and kept as the run's weights: the average, or ``net``."""
        return self.net if self.average is None else self.average.module


def _fit(
    data: RunInput,
    out: Path,
    settings: TrainSettings,
    *,
    resume: bool,
    on_progress: OnProgress | None,
    place: _Place,
) -> Path:
    """Train in this process; only the first process writes to ``out`` (the others to ``place.files``)."""
    if place.main:
        out.mkdir(parents=True, exist_ok=True)
    run_data = _load_data(data, place.files, settings, on_progress, resume=resume)
    model = _build_model(out, settings, run_data, resume=resume, place=place)
    if place.main:
        write_json_atomic(out / "config.json", _config(settings, run_data, model, complete=False))
    _run_epochs(out, settings, model, on_progress)
    if place.main:
        threshold = _final_metrics(out, settings, run_data, model)
        config = _config(settings, run_data, model, complete=True, threshold=threshold)
        write_json_atomic(out / "config.json", config)
    barrier(place.group)  # every process returns once the run folder is complete
    return out


# --- data -----------------------------------------------------------------------------------------


def _load_data(
    data: RunInput, out: Path, settings: TrainSettings, on_progress: OnProgress | None, *, resume: bool
) -> _RunData:
    """Items of any layout (one folder, or several sources split within each), split by photo, decoded once into
    memory (within ``settings.cache_limit``).

    Files that cannot be used are skipped and listed in ``RUN/skipped.txt`` (``path<TAB>problem``).

    Raises
    ------
    BadInputError
        If no training sample is left, or the training samples that could be read are of one class only (naming
        the data folder; with several sources the first source's folder, and the sources by name).
    """
    started = time.perf_counter()
    sources = () if isinstance(data, Path) else data
    where = data if isinstance(data, Path) else data[0].path
    of_sources = f" of the sources {', '.join(s.name for s in sources)}" if len(sources) > 1 else ""
    photos = PhotoCache(settings.photo_cache_limit)  # lives for this run: the items below hold it
    splits, info = load_items_and_split(data, out, settings, resume=resume, photo_cache=photos)
    train_ds = _dataset("train", splits, settings, on_progress, augment=settings.recipe.augment)
    val_ds = _dataset("val", splits, settings, on_progress, augment=None)
    test_ds = _dataset("test", splits, settings, on_progress, augment=None)
    if train_ds.cached and val_ds.cached and test_ds.cached:
        photos.clear()  # every pixel is in the datasets now; no photo is decoded again this run
    unreadable = [entry for ds in (train_ds, val_ds, test_ds) for entry in ds.skipped]
    record_skipped(out, unreadable)
    if len(train_ds) == 0:
        left_out = f" ({len(unreadable)} could not be read; every file left out is in {out / SKIPPED_FILE})"
        raise BadInputError(
            where, f"no training samples{of_sources} after splitting" + (left_out if unreadable else "")
        )
    check_two_classes(
        where, train_ds.labels.tolist(), skipped=len(unreadable), where=f" in the training split{of_sources}"
    )
    if settings.target_recall is not None and (len(val_ds) == 0 or not val_ds.labels.any()):
        raise ValueError("target_recall needs a validation set with cracked samples")
    return _RunData(splits, info, train_ds, val_ds, test_ds, time.perf_counter() - started, sources=sources)


def _dataset(
    name: str,
    splits: Mapping[str, list[LabelledItem]],
    settings: TrainSettings,
    on_progress: OnProgress | None,
    *,
    augment: str | None,
) -> ItemDataset:
    """The one place a run's datasets are made: split ``name`` decoded at the run's image size (the training
    split with the run's augmentation preset, ``robust`` included)."""
    items = splits.get(name, [])
    task, total = f"decoding {name}", len(items)
    if total:
        report(on_progress, task, 0, total)
    ds = ItemDataset(
        items,
        image_size=settings.recipe.image_size,
        augment=augment,
        seed=settings.seed,
        cache_limit=settings.cache_limit,
        threads=settings.threads,
        on_progress=counted(on_progress, task, total),
    )
    if total and not ds.cached:  # nothing decoded now (too large to keep: decoded in every epoch)
        report(on_progress, task, total, total)
    return ds


# --- model, optimiser, schedule ---------------------------------------------------------------------


def _new_model(settings: TrainSettings) -> nn.Module:
    """The network to train, with the user's pretrained backbone weights when ``weights`` is set."""
    from crackscope.models import create_model

    options = dict(settings.model_options)
    if settings.weights:
        options["weights"] = settings.weights
    try:
        return create_model(settings.model, **options)
    except TypeError as exc:
        raise ValueError(f"model {settings.model!r} does not take these options {sorted(options)}: {exc}") from None


def _loader(
    dataset: ItemDataset, *, batch_size: int, sampler: Sampler[int] | None, settings: TrainSettings, place: _Place
) -> DataLoader[Batch]:
    """Batches fetched whole through ``ItemDataset.__getitems__``, by ``settings.num_workers`` workers, in pinned
    memory when training on CUDA (``torchdata.make_loader``; workers are made anew every epoch)."""
    from crackscope.devices import loader_settings

    feed = loader_settings(place.device, num_workers=settings.num_workers)
    return make_loader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        num_workers=feed.num_workers,
        pin_memory=feed.pin_memory,
    )


def _train_sampler(settings: TrainSettings, data: _RunData, place: _Place) -> Sampler[int]:
    """The order of the training items: a seeded shuffle per epoch; with several data sources, draws balanced
    across sources and classes by the sources' weights. Under torchrun this process's share (padded so every
    process takes the same number of steps)."""
    group = place.group
    if len(data.sources) > 1:
        return balanced_sampler(
            data.train,
            weights={s.name: s.weight for s in data.sources},
            seed=settings.seed,
            rank=0 if group is None else group.rank,
            num_replicas=1 if group is None else group.world_size,
        )
    if group is None:
        return EpochShuffleSampler(len(data.train), seed=settings.seed)
    return DistributedSampler(data.train, num_replicas=group.world_size, rank=group.rank, seed=settings.seed)


def _make_loaders(settings: TrainSettings, data: _RunData, place: _Place) -> _Loaders:
    """Shuffled (or source-balanced) training batches, seeded per epoch (this process's share of them under
    torchrun), and larger, ordered evaluation batches."""
    batch_size = settings.recipe.batch_size
    sampler = _train_sampler(settings, data, place)
    train_loader = _loader(data.train, batch_size=batch_size, sampler=sampler, settings=settings, place=place)
    eval_batch = max(batch_size, 64)
    steps = len(train_loader) if settings.max_steps is None else min(len(train_loader), settings.max_steps)
    return _Loaders(
        train=train_loader,
        val=_loader(data.val, batch_size=eval_batch, sampler=None, settings=settings, place=place),
        test=_loader(data.test, batch_size=eval_batch, sampler=None, settings=settings, place=place),
        steps_per_epoch=steps,
    )


def _build_model(out: Path, settings: TrainSettings, data: _RunData, *, resume: bool, place: _Place) -> _Model:
    """The seeded network on the run's device, optimiser, loaders and schedule; on resume, put back where the run
    stopped; under torchrun, wrapped in DistributedDataParallel."""
    from crackscope.devices import channels_last_helps

    recipe = settings.recipe
    torch.manual_seed(settings.seed)
    net = _new_model(settings).to(place.device)  # initialised on the CPU: the same weights on every device
    penalty = getattr(net, "l2_penalty", None)
    l2_on_kernels = {k: float(v) for k, v in penalty.items()} if isinstance(penalty, Mapping) and penalty else None
    if channels_last_helps(place.device):
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    counts = (sum(p.numel() for p in net.parameters()), sum(p.numel() for p in net.parameters() if p.requires_grad))
    optimizer = make_optimizer(
        net, name=recipe.optimizer, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    loaders = _make_loaders(settings, data, place)
    state = checkpoint.TrainState()
    clock = _TrainingClock(state, settings.time_limit, place)
    scheduler = make_scheduler(
        optimizer,
        name=recipe.scheduler,
        total_steps=recipe.epochs * loaders.steps_per_epoch,
        warmup_steps=round(recipe.warmup_epochs * loaders.steps_per_epoch),
        time_progress=clock.progress if settings.time_limit is not None else None,
    )
    average = averaged_copy(net, sigma_rel=settings.weight_average) if settings.weight_average else None
    if resume:
        state = clock.state = checkpoint.load_state(out, net, optimizer, scheduler)
        if average is not None and state.epoch:
            load_weights(average, out / AVERAGE_FILE)
    elif place.main:  # a fresh run never inherits weights or metrics a former run left in the folder
        for stale in (
            WEIGHTS_FILE,
            LAST_WEIGHTS_FILE,
            AVERAGE_FILE,
            checkpoint.STATE_FILE,
            "metrics.json",
            "history.csv",
        ):
            (out / stale).unlink(missing_ok=True)
    trained = net
    if place.group is not None:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [place.device] if place.device.type == "cuda" else None
        trained = DistributedDataParallel(net, device_ids=device_ids)  # the first process's weights everywhere
    return _Model(
        net=net,
        optimizer=optimizer,
        scheduler=scheduler,
        loaders=loaders,
        state=state,
        clock=clock,
        l2=l2_penalty_of(net if average is None else average.module),  # of the network validated
        parameters=counts,
        l2_on_kernels=l2_on_kernels,
        place=place,
        trained=trained,
        average=average,
    )


# --- epochs -----------------------------------------------------------------------------------------


def _run_epochs(out: Path, settings: TrainSettings, model: _Model, on_progress: OnProgress | None) -> None:
    """Epochs until the last, early stopping or the time limit; weights and state saved after each."""
    state = model.state
    for epoch in range(state.epoch, settings.recipe.epochs):
        if state.stopped:
            break
        start = model.clock.epoch_start = time.perf_counter()
        deadline = None
        if settings.time_limit is not None:
            left = settings.time_limit - state.train_seconds
            if left <= 0:
                log.info("time limit reached after %d epochs", state.epoch)
                break
            deadline = start + left
        row = _train_one_epoch(epoch, settings, model, on_progress, deadline=deadline)
        _record_epoch(out, settings, model, row)


def _train_one_epoch(
    epoch: int, settings: TrainSettings, model: _Model, on_progress: OnProgress | None, *, deadline: float | None
) -> Row:
    """One pass over the training set, then the validation loss and metrics: the epoch's history row."""
    start = time.perf_counter()
    recipe = settings.recipe
    train_set = model.loaders.train.dataset
    if isinstance(train_set, ItemDataset):
        train_set.set_epoch(epoch)
    sampler = model.loaders.train.sampler
    if isinstance(sampler, EpochShuffleSampler | SourceBalancedSampler | DistributedSampler):
        sampler.set_epoch(epoch)
    steps = StepProgress(on_progress, f"epoch {epoch + 1}/{recipe.epochs}", model.loaders.steps_per_epoch)
    average = model.average

    def after_step(n: int, loss: float) -> None:
        if average is not None:
            average.update_parameters(model.net)
        steps.step()

    steps.start()
    result = train_epoch(
        model.trained,
        model.loaders.train,
        model.optimizer,
        options=EpochOptions(
            label_smoothing=recipe.label_smoothing, precision=settings.precision, max_steps=settings.max_steps
        ),
        scheduler=model.scheduler,
        deadline=deadline,
        on_step=after_step,
    )
    steps.end()  # at the steps taken when the time limit stopped the epoch
    loss, accuracy = agree_mean([result.loss, result.accuracy], model.place.group, model.place.device)
    row: Row = {"epoch": epoch + 1, "loss": loss, "accuracy": accuracy}
    if model.place.main:  # the first process validates; the others take its row (the same decisions everywhere)
        row = _validate(settings, model, row, result.steps, start)
    row = broadcast(row, model.place.group)
    log.info("epoch %d/%d: %s", epoch + 1, recipe.epochs, _summary(row))
    return row


def _validate(settings: TrainSettings, model: _Model, row: Row, steps: int, start: float) -> Row:
    """The epoch's history row: the training loss and accuracy in ``row``, the validation loss and metrics."""
    recipe = settings.recipe
    logits, labels = predict_logits(model.kept, model.loaders.val, precision=settings.precision)
    extra = float(model.l2().detach()) if model.l2 is not None else 0.0
    val_loss = loss_from_logits(logits, labels, label_smoothing=recipe.label_smoothing, extra=extra)
    row = dict(row)
    if logits.size:
        vm = binary_metrics(labels, sigmoid(logits))
        scores = {
            "val_loss": val_loss,
            "val_accuracy": vm["accuracy"],
            "val_recall": vm["recall"],
            "val_auc": vm["roc_auc"],  # None with one class: left out
        }
        row.update({key: float(value) for key, value in scores.items() if value is not None})
    row["lr"] = model.optimizer.param_groups[0]["lr"]
    row["steps"] = steps
    row["seconds"] = time.perf_counter() - start
    return row


def _record_epoch(out: Path, settings: TrainSettings, model: _Model, row: Row) -> None:
    """Add ``row`` to the history, decide on stopping, keep the best weights, checkpoint (the first process
    writes; every process takes the same decisions from the same row)."""
    state = model.state
    main = model.place.main
    epoch = int(row["epoch"])
    state.history.append(row)
    state.epoch = epoch
    state.train_seconds += row["seconds"]
    if row["steps"] < model.loaders.steps_per_epoch and settings.max_steps is None:
        state.stopped = True
        log.info("time limit reached during epoch %d (%d/%d steps)", epoch, row["steps"], model.loaders.steps_per_epoch)
    monitored = row.get("val_loss", row["loss"])
    if monitored < state.best_loss - settings.min_delta:
        state.best_loss, state.best_epoch, state.bad_epochs = monitored, epoch, 0
        if main:
            save_weights(model.kept, out / WEIGHTS_FILE)
    else:
        state.bad_epochs += 1
        patience = settings.recipe.patience
        if patience and state.bad_epochs >= patience:
            state.stopped = True
            log.info("early stop: no better validation loss for %d epochs", state.bad_epochs)
    if main:
        save_weights(model.net, out / LAST_WEIGHTS_FILE)
        if model.average is not None:
            save_weights(model.average, out / AVERAGE_FILE)
        checkpoint.save_state(out, model.optimizer, model.scheduler, state)
        write_history_csv(out / "history.csv", state.history)


class _TrainingClock:
    """Training seconds used so far (finished epochs + the one in progress) as a fraction of the budget; under
    torchrun the furthest of all processes' clocks, so every process steps its schedule with the same rate."""

    def __init__(self, state: checkpoint.TrainState, limit: float | None, place: _Place) -> None:
        self.state = state
        self.limit = limit
        self.place = place
        self.epoch_start = time.perf_counter()

    def progress(self) -> float:
        if not self.limit:
            return 0.0
        used = self.state.train_seconds + (time.perf_counter() - self.epoch_start)
        return agree_max(min(1.0, used / float(self.limit)), self.place.group, self.place.device)


def _summary(row: Row) -> str:
    parts = [f"loss {row['loss']:.4f}", f"acc {row['accuracy']:.4f}"]
    if "val_loss" in row:
        parts += [f"val_loss {row['val_loss']:.4f}", f"val_acc {row['val_accuracy']:.4f}"]
        parts += [f"val_recall {row['val_recall']:.4f}"]
    return "  ".join(parts) + f"  ({row['seconds']:.1f}s)"


# --- final measurement and config.json ----------------------------------------------------------------


def _final_metrics(out: Path, settings: TrainSettings, data: _RunData, model: _Model) -> float:
    """Restore the best weights, choose the threshold, measure, write metrics, history and curves.

    The threshold (for ``target_recall``; else 0.5) is chosen on the pooled validation items of the sources
    trained on. Each part (``val``, ``test``) gets its metrics at that threshold, its expected calibration
    error (``ece``) and, when the data was given as data sources, ``per_source`` (each source's scores and all
    together).

    Returns the decision threshold.
    """
    if (out / WEIGHTS_FILE).is_file():
        load_weights(model.net, out / WEIGHTS_FILE)  # the average's weights, when the run averages
    else:
        save_weights(model.kept, out / WEIGHTS_FILE)
        load_weights(model.net, out / WEIGHTS_FILE)
    precision = settings.precision
    val_logits, val_labels = predict_logits(model.net, model.loaders.val, precision=precision)
    val_probs = sigmoid(val_logits)
    threshold = threshold_for_sources(val_labels, val_probs, data.val.sources, target_recall=settings.target_recall)
    metrics: dict[str, object] = {"threshold": threshold, "best_epoch": model.state.best_epoch}
    if val_logits.size:
        metrics["val"] = _part_metrics(val_labels, val_probs, data.val, threshold, by_source=bool(data.sources))
    if len(data.test):
        test_logits, test_labels = predict_logits(model.net, model.loaders.test, precision=precision)
        test_probs = sigmoid(test_logits)
        metrics["test"] = _part_metrics(test_labels, test_probs, data.test, threshold, by_source=bool(data.sources))
    write_json_atomic(out / "metrics.json", metrics)
    write_history_csv(out / "history.csv", model.state.history)
    if model.state.history:
        plot_curves(out / "curves.png", model.state.history, title=f"{settings.model} ({out.name})")
    return threshold


def _part_metrics(
    labels: np.ndarray, probabilities: np.ndarray, dataset: ItemDataset, threshold: float, *, by_source: bool
) -> dict[str, object]:
    """The metrics of one part (val or test) at ``threshold``, its ECE, and (``by_source``) each source's scores."""
    part: dict[str, object] = dict(binary_metrics(labels, probabilities, threshold=threshold))
    part["ece"] = expected_calibration_error(labels, probabilities)
    if by_source:
        part["per_source"] = per_source_metrics(labels, probabilities, dataset.sources, threshold=threshold).to_dict()
    return part


def _config(
    settings: TrainSettings, data: _RunData, model: _Model, *, complete: bool, threshold: float = 0.5
) -> dict[str, object]:
    """``config.json``: what ``load_run``, ``compare``, reports and resume read."""
    from crackscope.devices import describe_device

    size = settings.recipe.image_size
    state = model.state
    group = model.place.group
    return {
        "kind": "classifier",
        "model": settings.model,
        "model_options": dict(settings.model_options),
        "parameters": model.parameters[0],
        "trainable_parameters": model.parameters[1],
        "image_size": size,
        "preprocessing": {
            "color": "RGB",
            "resize": f"OpenCV INTER_AREA to {size}x{size} (aspect ratio not kept)",
            "input": "float32 N x 3 x H x W, pixel values 0..255; the model rescales inside itself",
            "output": "crack logit; probability = sigmoid(logit); cracked when probability >= threshold",
        },
        "threshold": threshold,
        "target_recall": settings.target_recall,
        "precision": settings.precision,
        "weight_average": settings.weight_average,  # 0: the trained weights are kept, else their average's
        "recipe": settings.to_dict()["recipe"],
        "l2_on_kernels": model.l2_on_kernels,
        "seed": settings.seed,
        "split": "split.csv",
        "split_counts": {name: len(items) for name, items in data.splits.items()},
        "data": dict(data.info),
        "options": settings.to_dict(),
        "epochs_run": state.epoch,
        "best_epoch": state.best_epoch,
        "stopped_early": state.stopped,
        "training_seconds": round(state.train_seconds, 2),
        "data_seconds": round(data.seconds, 2),
        "complete": complete,
        "device": describe_device(model.place.device),
        "distributed": None if group is None else group.as_dict(),
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
