"""``train``: fit a registered classifier on any dataset layout and write a resumable run folder.

A run goes through four steps, each a function here: the data (items, split, decoded datasets), the
model with its optimiser and schedule, the epoch loop (checkpointed after every epoch), and the final
measurement with the best weights. Torch's thread count and global RNG state are restored when ``train``
returns or raises.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from crackscope.data.items import LabelledItem, PhotoCache
from crackscope.errors import BadInputError
from crackscope.io import versions, write_json_atomic
from crackscope.training import checkpoint
from crackscope.training.history import plot_curves, write_history_csv
from crackscope.training.loop import (
    EpochOptions,
    l2_penalty_of,
    loss_from_logits,
    predict_logits,
    sigmoid,
    train_epoch,
)
from crackscope.training.metrics import binary_metrics
from crackscope.training.optim import make_optimizer, make_scheduler
from crackscope.training.options import TrainOptions, TrainSettings
from crackscope.training.progress import TrainingProgress
from crackscope.training.run import LAST_WEIGHTS_FILE, WEIGHTS_FILE, load_weights, save_weights
from crackscope.training.splitting import SKIPPED_FILE, check_two_classes, load_items_and_split, record_skipped
from crackscope.training.threshold import threshold_for_recall
from crackscope.training.torchdata import Batch, EpochShuffleSampler, ItemDataset, make_loader

Row = dict[str, float]  # one line of history.csv (a metric that cannot be computed is left out: empty cell)
DEFAULT_OPTIONS = TrainOptions()  # every field at its default: the model's recipe decides


def train(
    data: str | Path | None,
    *,
    out: str | Path,
    options: TrainOptions = DEFAULT_OPTIONS,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train a registered classifier on DATA and write a run folder.

    Parameters
    ----------
    data : str, Path or None
        A dataset folder in any layout ``crackscope.data`` reads; image + mask sets are cut into labelled
        patches. None only with ``resume``: the folder the interrupted run was started on.
    out : str or Path
        The run folder: ``config.json``, ``model.safetensors`` (best weights), ``last.safetensors`` and
        ``state.pt`` (for resuming), ``history.csv``, ``curves.png``, ``metrics.json``, ``split.csv``.
    options : TrainOptions
        The model and every training setting; fields left None take the model's recipe defaults
        (default ``TrainOptions()``: the default model with its recipe).
    resume : bool
        Continue an interrupted run in ``out``: its stored settings win, except that ``options.epochs``
        (when set) may raise the number of epochs. Without a resumable run in ``out`` a new run starts.
    progress : bool
        Draw progress bars on stderr.

    Returns
    -------
    Path
        The run folder ``out``.

    Raises
    ------
    ValueError
        If the model is not registered or refuses ``model_options``, ``target_recall`` is set and the
        validation split holds no cracked sample, or DATA is None with no run to resume.
    BadInputError
        If DATA cannot be read or holds no labelled sample, a given split CSV does not fit it, or the
        stored state of the run to resume is unreadable.
    """
    out = Path(out)
    resuming = resume and checkpoint.has_state(out)
    if resuming:
        settings, stored_root = checkpoint.read_settings(out)
        if options.epochs is not None:
            settings = settings.with_epochs(options.epochs)
        root = Path(data) if data is not None else stored_root
    else:
        settings = options.resolve()
        root = None if data is None else Path(data)
    if root is None:
        raise ValueError("data is needed (None only continues a run whose config.json records its data)")
    with torch_threads(settings.threads):
        return _fit(root, out, settings, resume=resuming, progress=progress)


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


@dataclass(frozen=True)
class _RunData:
    """The items of each split, what config.json records about them, and their decoded datasets."""

    splits: Mapping[str, list[LabelledItem]]
    info: Mapping[str, object]
    train: ItemDataset
    val: ItemDataset
    test: ItemDataset
    seconds: float


@dataclass(frozen=True)
class _Loaders:
    """The run's batches, and how many training batches make an epoch."""

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
    l2: Callable[[], torch.Tensor] | None
    parameters: tuple[int, int]  # all, trainable
    l2_on_kernels: dict[str, float] | None


def _fit(data: Path, out: Path, settings: TrainSettings, *, resume: bool, progress: bool) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with TrainingProgress(enabled=progress) as bar:
        run_data = _load_data(data, out, settings, bar, resume=resume)
        model = _build_model(out, settings, run_data, resume=resume)
        write_json_atomic(out / "config.json", _config(settings, run_data, model, complete=False))
        _run_epochs(out, settings, model, bar)
        threshold = _final_metrics(out, settings, run_data, model)
        write_json_atomic(out / "config.json", _config(settings, run_data, model, complete=True, threshold=threshold))
    return out


# --- data -----------------------------------------------------------------------------------------


def _load_data(data: Path, out: Path, settings: TrainSettings, bar: TrainingProgress, *, resume: bool) -> _RunData:
    """Items of any layout, split by photo, decoded once into memory (within ``settings.cache_limit``).

    Files that cannot be used are skipped and listed in ``RUN/skipped.txt`` (``path<TAB>problem``).

    Raises
    ------
    BadInputError
        If no training sample is left, or the training samples that could be read are of one class only.
    """
    started = time.perf_counter()
    photos = PhotoCache(settings.photo_cache_limit)  # lives for this run: the items below hold it
    splits, info = load_items_and_split(data, out, settings, resume=resume, photo_cache=photos)
    train_ds = _dataset("train", splits, settings, bar, augment=settings.recipe.augment)
    val_ds = _dataset("val", splits, settings, bar, augment=None)
    test_ds = _dataset("test", splits, settings, bar, augment=None)
    if train_ds.cached and val_ds.cached and test_ds.cached:
        photos.clear()  # every pixel is in the datasets now; no photo is decoded again this run
    unreadable = [entry for ds in (train_ds, val_ds, test_ds) for entry in ds.skipped]
    record_skipped(out, unreadable)
    if len(train_ds) == 0:
        left_out = f" ({len(unreadable)} could not be read; every file left out is in {out / SKIPPED_FILE})"
        raise BadInputError(data, "no training samples after splitting" + (left_out if unreadable else ""))
    check_two_classes(data, train_ds.labels.tolist(), skipped=len(unreadable), where=" in the training split")
    if settings.target_recall is not None and (len(val_ds) == 0 or not val_ds.labels.any()):
        raise ValueError("target_recall needs a validation set with cracked samples")
    return _RunData(splits, info, train_ds, val_ds, test_ds, time.perf_counter() - started)


def _dataset(
    name: str,
    splits: Mapping[str, list[LabelledItem]],
    settings: TrainSettings,
    bar: TrainingProgress,
    *,
    augment: str | None,
) -> ItemDataset:
    """The one place a run's datasets are made: split ``name`` decoded at the run's image size."""
    items = splits.get(name, [])
    task = bar.start_task(f"decoding {name}", total=len(items))
    ds = ItemDataset(
        items,
        image_size=settings.recipe.image_size,
        augment=augment,
        seed=settings.seed,
        cache_limit=settings.cache_limit,
        threads=settings.threads,
        on_progress=lambda n: bar.update(task, completed=n),
    )
    bar.finish_task(task)
    for key, problem in ds.skipped:
        bar.print(f"[yellow]skipped[/] {key}: {problem}")
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


def _make_loaders(settings: TrainSettings, data: _RunData) -> _Loaders:
    """Shuffled training batches (seeded per epoch) and larger, ordered evaluation batches."""
    batch_size = settings.recipe.batch_size
    train_loader = make_loader(
        data.train, batch_size=batch_size, shuffle=True, seed=settings.seed, num_workers=settings.num_workers
    )
    eval_batch = max(batch_size, 64)
    steps = len(train_loader) if settings.max_steps is None else min(len(train_loader), settings.max_steps)
    return _Loaders(
        train=train_loader,
        val=make_loader(data.val, batch_size=eval_batch, shuffle=False),
        test=make_loader(data.test, batch_size=eval_batch, shuffle=False),
        steps_per_epoch=steps,
    )


def _build_model(out: Path, settings: TrainSettings, data: _RunData, *, resume: bool) -> _Model:
    """The seeded network, optimiser, loaders and schedule; on resume, put back where the run stopped."""
    recipe = settings.recipe
    torch.manual_seed(settings.seed)
    net = _new_model(settings)
    l2 = l2_penalty_of(net)
    penalty = getattr(net, "l2_penalty", None)
    l2_on_kernels = {k: float(v) for k, v in penalty.items()} if isinstance(penalty, Mapping) and penalty else None
    net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    counts = (sum(p.numel() for p in net.parameters()), sum(p.numel() for p in net.parameters() if p.requires_grad))
    optimizer = make_optimizer(
        net, name=recipe.optimizer, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )
    loaders = _make_loaders(settings, data)
    state = checkpoint.TrainState()
    clock = _TrainingClock(state, settings.time_limit)
    scheduler = make_scheduler(
        optimizer,
        name=recipe.scheduler,
        total_steps=recipe.epochs * loaders.steps_per_epoch,
        warmup_steps=round(recipe.warmup_epochs * loaders.steps_per_epoch),
        time_progress=clock.progress if settings.time_limit is not None else None,
    )
    if resume:
        state = clock.state = checkpoint.load_state(out, net, optimizer, scheduler)
    else:  # a fresh run never inherits weights or metrics a former run left in the folder
        for stale in (WEIGHTS_FILE, LAST_WEIGHTS_FILE, checkpoint.STATE_FILE, "metrics.json", "history.csv"):
            (out / stale).unlink(missing_ok=True)
    return _Model(
        net=net,
        optimizer=optimizer,
        scheduler=scheduler,
        loaders=loaders,
        state=state,
        clock=clock,
        l2=l2,
        parameters=counts,
        l2_on_kernels=l2_on_kernels,
    )


# --- epochs -----------------------------------------------------------------------------------------


def _run_epochs(out: Path, settings: TrainSettings, model: _Model, bar: TrainingProgress) -> None:
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
                bar.print(f"time limit reached after {state.epoch} epochs")
                break
            deadline = start + left
        row = _train_one_epoch(epoch, settings, model, bar, deadline=deadline)
        _record_epoch(out, settings, model, row, bar)


def _train_one_epoch(
    epoch: int, settings: TrainSettings, model: _Model, bar: TrainingProgress, *, deadline: float | None
) -> Row:
    """One pass over the training set, then the validation loss and metrics: the epoch's history row."""
    start = time.perf_counter()
    recipe = settings.recipe
    train_set = model.loaders.train.dataset
    if isinstance(train_set, ItemDataset):
        train_set.set_epoch(epoch)
    if isinstance(model.loaders.train.sampler, EpochShuffleSampler):
        model.loaders.train.sampler.set_epoch(epoch)
    task = bar.start_task(f"epoch {epoch + 1}/{recipe.epochs}", total=model.loaders.steps_per_epoch)

    def on_step(n: int, loss: float) -> None:
        bar.advance(task, loss=loss)

    result = train_epoch(
        model.net,
        model.loaders.train,
        model.optimizer,
        options=EpochOptions(
            label_smoothing=recipe.label_smoothing, precision=settings.precision, max_steps=settings.max_steps
        ),
        scheduler=model.scheduler,
        deadline=deadline,
        on_step=on_step,
    )
    logits, labels = predict_logits(model.net, model.loaders.val, precision=settings.precision)
    extra = float(model.l2().detach()) if model.l2 is not None else 0.0
    val_loss = loss_from_logits(logits, labels, label_smoothing=recipe.label_smoothing, extra=extra)
    row: Row = {"epoch": epoch + 1, "loss": result.loss, "accuracy": result.accuracy}
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
    row["steps"] = result.steps
    row["seconds"] = time.perf_counter() - start
    bar.finish_task(task, summary=_summary(row))
    return row


def _record_epoch(out: Path, settings: TrainSettings, model: _Model, row: Row, bar: TrainingProgress) -> None:
    """Add ``row`` to the history, decide on stopping, keep the best weights, checkpoint."""
    state = model.state
    epoch = int(row["epoch"])
    state.history.append(row)
    state.epoch = epoch
    state.train_seconds += row["seconds"]
    if row["steps"] < model.loaders.steps_per_epoch and settings.max_steps is None:
        state.stopped = True
        bar.print(
            f"time limit reached during epoch {epoch} ({int(row['steps'])}/{model.loaders.steps_per_epoch} steps)"
        )
    monitored = row.get("val_loss", row["loss"])
    if monitored < state.best_loss - settings.min_delta:
        state.best_loss, state.best_epoch, state.bad_epochs = monitored, epoch, 0
        save_weights(model.net, out / WEIGHTS_FILE)
    else:
        state.bad_epochs += 1
        patience = settings.recipe.patience
        if patience and state.bad_epochs >= patience:
            state.stopped = True
            bar.print(f"early stop: no better validation loss for {state.bad_epochs} epochs")
    save_weights(model.net, out / LAST_WEIGHTS_FILE)
    checkpoint.save_state(out, model.optimizer, model.scheduler, state)
    write_history_csv(out / "history.csv", state.history)


class _TrainingClock:
    """Training seconds used so far (finished epochs + the one in progress) as a fraction of the budget."""

    def __init__(self, state: checkpoint.TrainState, limit: float | None) -> None:
        self.state = state
        self.limit = limit
        self.epoch_start = time.perf_counter()

    def progress(self) -> float:
        if not self.limit:
            return 0.0
        used = self.state.train_seconds + (time.perf_counter() - self.epoch_start)
        return min(1.0, used / float(self.limit))


def _summary(row: Row) -> str:
    parts = [f"loss {row['loss']:.4f}", f"acc {row['accuracy']:.4f}"]
    if "val_loss" in row:
        parts += [f"val_loss {row['val_loss']:.4f}", f"val_acc {row['val_accuracy']:.4f}"]
        parts += [f"val_recall {row['val_recall']:.4f}"]
    return "  ".join(parts) + f"  ({row['seconds']:.1f}s)"


# --- final measurement and config.json ----------------------------------------------------------------


def _final_metrics(out: Path, settings: TrainSettings, data: _RunData, model: _Model) -> float:
    """Restore the best weights, choose the threshold, measure, write metrics, history and curves.

    Returns the decision threshold.
    """
    if (out / WEIGHTS_FILE).is_file():
        load_weights(model.net, out / WEIGHTS_FILE)
    else:
        save_weights(model.net, out / WEIGHTS_FILE)
    precision = settings.precision
    val_logits, val_labels = predict_logits(model.net, model.loaders.val, precision=precision)
    val_probs = sigmoid(val_logits)
    threshold = threshold_for_recall(val_labels, val_probs, settings.target_recall)
    metrics: dict[str, object] = {"threshold": threshold, "best_epoch": model.state.best_epoch}
    if val_logits.size:
        metrics["val"] = binary_metrics(val_labels, val_probs, threshold=threshold)
    if len(data.test):
        test_logits, test_labels = predict_logits(model.net, model.loaders.test, precision=precision)
        metrics["test"] = binary_metrics(test_labels, sigmoid(test_logits), threshold=threshold)
    write_json_atomic(out / "metrics.json", metrics)
    write_history_csv(out / "history.csv", model.state.history)
    if model.state.history:
        plot_curves(out / "curves.png", model.state.history, title=f"{settings.model} ({out.name})")
    return threshold


def _config(
    settings: TrainSettings, data: _RunData, model: _Model, *, complete: bool, threshold: float = 0.5
) -> dict[str, object]:
    """``config.json``: what ``load_run``, ``compare``, reports and resume read."""
    size = settings.recipe.image_size
    state = model.state
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
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
