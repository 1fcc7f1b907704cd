"""Commands of the UP-CrackNet area: ``train-restorer``."""

from __future__ import annotations

from pathlib import Path

import typer

from crackscope.cli.common import (
    DEVICE_OPTION,
    LAYOUT_OPTION,
    ProgressBars,
    check_device,
    check_layout,
    console,
    exit_for_batch,
    fail,
    fail_for_data,
    print_skipped,
)


def train_restorer_cmd(
    data: Path = typer.Argument(
        ...,
        metavar="DATA",
        help="Crack-free images (a folder), a segmentation set (images/ + masks/) "
        "or class folders (the uncracked class is used).",
    ),
    out: Path = typer.Option(..., "--out", "-o", metavar="DIR", help="Run folder to write."),
    config: str = typer.Option("cpu", "--config", help="Configuration: cpu (64 px, ngf 32) or paper (256 px, ngf 64)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Number of epochs (default: the config's)."),
    image_size: int | None = typer.Option(None, "--image-size", help="Training crop and inference tile side in px."),
    ngf: int | None = typer.Option(None, "--ngf", help="Generator and discriminator width."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Training batch size (default: the config's)."),
    steps_per_epoch: int | None = typer.Option(None, "--steps-per-epoch", help="Cap an epoch at this many steps."),
    vgg_weights: Path | None = typer.Option(
        None, "--vgg-weights", help="Torchvision's vgg19-dcbb9e9d.pth (ImageNet) for the style term."
    ),
    style: str | None = typer.Option(
        None,
        "--style",
        help="Style term: imagenet, random (a fixed random VGG-19: the paper config's default without weights) "
        "or off (the cpu config's default).",
    ),
    time_budget: float | None = typer.Option(None, "--time-budget", help="Stop after this many minutes."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the crops, corruptions and initialisation."),
    layout: str | None = LAYOUT_OPTION,
    device: str = DEVICE_OPTION,
    num_workers: int = typer.Option(
        0, "--num-workers", help="DataLoader worker processes making the crops (0: in the training process)."
    ),
    photo_cache_mb: int = typer.Option(
        512, "--photo-cache-mb", help="Megabytes of decoded photos kept per process (0: decode at every crop)."
    ),
) -> None:
    """Train a UP-CrackNet restorer on crack-free images, or a mask set's crack-free regions (the paper's protocol)."""
    import json

    from crackscope.errors import CrackscopeError
    from crackscope.unsupervised.train import RestorerTrainOptions, train_restorer

    check_layout(layout)
    device = check_device(device)
    try:
        options = RestorerTrainOptions(
            epochs=epochs,
            image_size=image_size,
            ngf=ngf,
            batch_size=batch_size,
            steps_per_epoch=steps_per_epoch,
            vgg_weights=vgg_weights,
            style=style,
            seed=seed,
            time_budget=None if time_budget is None else time_budget * 60.0,
            layout=layout,
            device=device,
            num_workers=num_workers,
            photo_cache_mb=photo_cache_mb,
        )
    except ValueError as exc:
        fail(str(exc))
    try:
        with ProgressBars() as bars:
            run = train_restorer(data, out=out, config=config, options=options, resume=resume, on_progress=bars)
    except (CrackscopeError, ValueError, OSError) as exc:
        fail_for_data(exc, data)
    skipped_file = run / "skipped.txt"
    lines = skipped_file.read_text(encoding="utf-8").splitlines() if skipped_file.is_file() else []
    skipped = [(name, problem) for name, _, problem in (line.partition("\t") for line in lines if line)]
    print_skipped(skipped, limit=20, more=f" (all in {skipped_file})")
    console.print(f"restorer run written to [bold]{run}[/] (best generator: model.safetensors, samples/)")
    used = json.loads((run / "config.json").read_text(encoding="utf-8")).get("train_images", 0)
    exit_for_batch(int(used), len(skipped), what="image")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("train-restorer")(train_restorer_cmd)
