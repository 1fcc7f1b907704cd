"""``train``: fit a registered classifier on any dataset layout and write a resumable run folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crackscope.errors import BadInputError
from crackscope.io import versions, write_json_atomic
from crackscope.training import checkpoint
from crackscope.training.history import plot_curves, write_history_csv
from crackscope.training.loop import l2_penalty_of, loss_from_logits, predict_logits, sigmoid, train_epoch
from crackscope.training.metrics import binary_metrics
from crackscope.training.optim import make_optimizer, make_scheduler
from crackscope.training.options import resolve_settings
from crackscope.training.progress import TrainingProgress
from crackscope.training.run import LAST_WEIGHTS_FILE, WEIGHTS_FILE, save_weights
from crackscope.training.splitting import load_items_and_split
from crackscope.training.threshold import threshold_for_recall
from crackscope.training.torchdata import ItemDataset, make_loader


def train(
    data: str | Path,
    *,
    model: str | None = None,
    out: str | Path,
    epochs: int | None = None,
    image_size: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    augment: str | None = None,
    target_recall: float | None = None,
    **overrides: Any,
) -> Path:
    """Train ``model`` (default: ``crackscope.models.DEFAULT_MODEL``) on DATA and return the run folder.

    DATA may be any layout ``crackscope.data`` reads; image + mask sets are cut into labelled patches.
    The model's recipe gives every default; keyword overrides (``lr``, ``optimizer``, ``weight_decay``,
    ``label_smoothing``, ``patience``, ``precision``, ``split``, ``weights``, ...) replace them.
    ``resume=True`` continues an interrupted run in ``out`` (its stored settings win; ``epochs`` may
    be raised). ``time_limit`` (seconds) caps training, ending the epoch in progress early; with the
    ``cosine`` schedule the decay then follows the time used, so the run ends annealed (such a run
    depends on the machine's speed and is not bit-for-bit reproducible).
    """
    from crackscope.models import DEFAULT_MODEL

    out = Path(out)
    resume = bool(overrides.pop("resume", False))
    if resume and checkpoint.has_state(out):
        settings = checkpoint.read_settings(out)
        if epochs is not None:
            settings["recipe"]["epochs"] = int(epochs)
        if "progress" in overrides:
            settings["progress"] = bool(overrides["progress"])
        return _fit(Path(settings["data"]["root"]) if data is None else Path(data), out, settings, resume=True)
    settings = resolve_settings(
        model=model or DEFAULT_MODEL,
        epochs=epochs,
        image_size=image_size,
        batch_size=batch_size,
        seed=seed,
        augment=augment,
        target_recall=target_recall,
        overrides=overrides,
    )
    return _fit(Path(data), out, settings, resume=False)


def _count_parameters(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def _new_model(settings: dict[str, Any]) -> nn.Module:
    """The network to train, with the user's pretrained backbone weights when ``weights`` is set."""
    from crackscope.models import create_model

    options = dict(settings["model_options"])
    if settings.get("weights"):
        options["weights"] = settings["weights"]
    try:
        return create_model(settings["model"], **options)
    except TypeError as exc:
        raise ValueError(f"model {settings['model']!r} does not take these options {sorted(options)}: {exc}") from None


def _fit(data: Path, out: Path, settings: dict[str, Any], *, resume: bool) -> Path:
    recipe = settings["recipe"]
    seed = settings["seed"]
    precision = settings["precision"]
    torch.set_num_threads(int(settings["threads"]))
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    bar = TrainingProgress(enabled=bool(settings["progress"]))

    with bar:
        # Data: items of any layout, split by photo, decoded once into memory.
        splits, data_info = load_items_and_split(data, out, settings, resume=resume)
        settings["data"] = data_info
        size = int(recipe["image_size"])

        def dataset(name: str, augment: str | None) -> ItemDataset:
            items = splits.get(name, [])
            task = bar.start_task(f"decoding {name}", total=len(items))
            ds = ItemDataset(
                items,
                image_size=size,
                augment=augment,
                seed=seed,
                cache_limit=int(settings["cache_limit"]),
                threads=int(settings["threads"]),
                on_progress=lambda n: bar.update(task, completed=n),
            )
            bar.finish_task(task)
            for key, problem in ds.skipped:
                bar.print(f"[yellow]skipped[/] {key}: {problem}")
            return ds

        train_ds = dataset("train", recipe["augment"])
        val_ds = dataset("val", None)
        test_ds = dataset("test", None)
        if len(train_ds) == 0:
            raise BadInputError(data, "no training samples after splitting")
        if settings["target_recall"] is not None and (len(val_ds) == 0 or not val_ds.labels.any()):
            raise ValueError("--target-recall needs a validation set with cracked samples")
        data_seconds = time.perf_counter() - started

        # Model, optimiser, schedule.
        torch.manual_seed(seed)
        net = _new_model(settings)
        l2 = l2_penalty_of(net)
        settings["l2_on_kernels"] = dict(getattr(net, "l2_penalty", {}) or {}) or None
        net = net.to(memory_format=torch.channels_last)
        n_params, n_trainable = _count_parameters(net)
        optimizer = make_optimizer(
            net,
            name=recipe["optimizer"],
            lr=float(recipe["lr"]),
            momentum=float(recipe["momentum"]),
            weight_decay=float(recipe["weight_decay"]),
        )
        train_loader = make_loader(
            train_ds, batch_size=int(recipe["batch_size"]), shuffle=True, seed=seed, num_workers=int(settings["num_workers"])
        )
        eval_batch = max(int(recipe["batch_size"]), 64)
        val_loader = make_loader(val_ds, batch_size=eval_batch, shuffle=False)
        test_loader = make_loader(test_ds, batch_size=eval_batch, shuffle=False)
        steps_per_epoch = len(train_loader)
        if settings["max_steps"] is not None:
            steps_per_epoch = min(steps_per_epoch, int(settings["max_steps"]))
        epochs = int(recipe["epochs"])
        state = checkpoint.TrainState()
        clock = _TrainingClock(state, settings["time_limit"])
        scheduler = make_scheduler(
            optimizer,
            name=recipe["scheduler"],
            total_steps=epochs * steps_per_epoch,
            warmup_steps=int(round(float(recipe["warmup_epochs"]) * steps_per_epoch)),
            time_progress=clock.progress if settings["time_limit"] is not None else None,
        )

        if resume:
            state = checkpoint.load_state(out, net, optimizer, scheduler)
            clock.state = state
        else:  # a fresh run never inherits weights or metrics a former run left in the folder
            for stale in (WEIGHTS_FILE, LAST_WEIGHTS_FILE, checkpoint.STATE_FILE, "metrics.json", "history.csv"):
                (out / stale).unlink(missing_ok=True)
        config = _config(settings, n_params, n_trainable, splits, state, data_seconds, complete=False)
        write_json_atomic(out / "config.json", config)

        smoothing = float(recipe["label_smoothing"])
        for epoch in range(state.epoch, epochs):
            if state.stopped:
                break
            t0 = clock.epoch_start = time.perf_counter()
            deadline = None
            if settings["time_limit"] is not None:
                left = float(settings["time_limit"]) - state.train_seconds
                if left <= 0:
                    bar.print(f"time limit reached after {state.epoch} epochs")
                    break
                deadline = t0 + left
            train_ds.set_epoch(epoch)
            train_loader.sampler.set_epoch(epoch)
            task = bar.start_task(f"epoch {epoch + 1}/{epochs}", total=steps_per_epoch)
            result = train_epoch(
                net,
                train_loader,
                optimizer,
                label_smoothing=smoothing,
                precision=precision,
                scheduler=scheduler,
                max_steps=settings["max_steps"],
                deadline=deadline,
                on_step=lambda n, loss, task=task: bar.advance(task, loss=loss),
            )
            logits, labels = predict_logits(net, val_loader, precision=precision)
            extra = float(l2().detach()) if callable(l2) else 0.0
            val_loss = loss_from_logits(logits, labels, label_smoothing=smoothing, extra=extra)
            row: dict[str, Any] = {"epoch": epoch + 1, "loss": result.loss, "accuracy": result.accuracy}
            if logits.size:
                vm = binary_metrics(labels, sigmoid(logits))
                row.update(val_loss=val_loss, val_accuracy=vm["accuracy"], val_recall=vm["recall"], val_auc=vm["roc_auc"])
            row["lr"] = optimizer.param_groups[0]["lr"]
            row["steps"] = result.steps
            row["seconds"] = time.perf_counter() - t0
            bar.finish_task(task, summary=_summary(row))
            state.history.append(row)
            state.epoch = epoch + 1
            state.train_seconds += row["seconds"]
            if result.steps < steps_per_epoch and settings["max_steps"] is None:
                state.stopped = True
                bar.print(f"time limit reached during epoch {epoch + 1} ({result.steps}/{steps_per_epoch} steps)")
            monitored = val_loss if logits.size else result.loss
            if monitored < state.best_loss - float(settings["min_delta"]):
                state.best_loss, state.best_epoch, state.bad_epochs = monitored, epoch + 1, 0
                save_weights(net, out / WEIGHTS_FILE)
            else:
                state.bad_epochs += 1
                if int(recipe["patience"]) and state.bad_epochs >= int(recipe["patience"]):
                    state.stopped = True
                    bar.print(f"early stop: no better validation loss for {state.bad_epochs} epochs")
            save_weights(net, out / LAST_WEIGHTS_FILE)
            checkpoint.save_state(out, optimizer, scheduler, state)
            write_history_csv(out / "history.csv", state.history)

        # Restore the best weights, choose the threshold, measure, write everything.
        if (out / WEIGHTS_FILE).is_file():
            from crackscope.training.run import load_weights

            load_weights(net, out / WEIGHTS_FILE)
        else:
            save_weights(net, out / WEIGHTS_FILE)
        val_logits, val_labels = predict_logits(net, val_loader, precision=precision)
        val_probs = sigmoid(val_logits)
        threshold = threshold_for_recall(val_labels, val_probs, settings["target_recall"])
        metrics: dict[str, Any] = {"threshold": threshold, "best_epoch": state.best_epoch}
        if val_logits.size:
            metrics["val"] = binary_metrics(val_labels, val_probs, threshold=threshold)
        if len(test_ds):
            test_logits, test_labels = predict_logits(net, test_loader, precision=precision)
            metrics["test"] = binary_metrics(test_labels, sigmoid(test_logits), threshold=threshold)
        write_json_atomic(out / "metrics.json", metrics)
        write_history_csv(out / "history.csv", state.history)
        if state.history:
            plot_curves(out / "curves.png", state.history, title=f"{settings['model']} ({out.name})")
        config = _config(settings, n_params, n_trainable, splits, state, data_seconds, complete=True)
        config["threshold"] = threshold
        write_json_atomic(out / "config.json", config)
    return out


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


def _summary(row: dict[str, Any]) -> str:
    parts = [f"loss {row['loss']:.4f}", f"acc {row['accuracy']:.4f}"]
    if "val_loss" in row:
        parts += [f"val_loss {row['val_loss']:.4f}", f"val_acc {row['val_accuracy']:.4f}", f"val_recall {row['val_recall']:.4f}"]
    return "  ".join(parts) + f"  ({row['seconds']:.1f}s)"


def _config(
    settings: dict[str, Any],
    n_params: int,
    n_trainable: int,
    splits: dict[str, list],
    state: checkpoint.TrainState,
    data_seconds: float,
    *,
    complete: bool,
) -> dict[str, Any]:
    recipe = dict(settings["recipe"])
    size = int(recipe["image_size"])
    return {
        "kind": "classifier",
        "model": settings["model"],
        "model_options": settings["model_options"],
        "parameters": n_params,
        "trainable_parameters": n_trainable,
        "image_size": size,
        "preprocessing": {
            "color": "RGB",
            "resize": f"OpenCV INTER_AREA to {size}x{size} (aspect ratio not kept)",
            "input": "float32 N x 3 x H x W, pixel values 0..255; the model rescales inside itself",
            "output": "crack logit; probability = sigmoid(logit); cracked when probability >= threshold",
        },
        "threshold": 0.5,
        "target_recall": settings["target_recall"],
        "precision": settings["precision"],
        "recipe": recipe,
        "l2_on_kernels": settings.get("l2_on_kernels"),
        "seed": settings["seed"],
        "split": "split.csv",
        "split_counts": {name: len(items) for name, items in splits.items()},
        "data": settings.get("data"),
        "options": settings,
        "epochs_run": state.epoch,
        "best_epoch": state.best_epoch,
        "stopped_early": state.stopped,
        "training_seconds": round(state.train_seconds, 2),
        "data_seconds": round(data_seconds, 2),
        "complete": complete,
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

