"""Commands of the UP-CrackNet area: ``train-restorer``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from crackscope.cli.common import ProgressBars, console, fail


def train_restorer_cmd(
    data: Path = typer.Argument(..., help="crack-free images (a folder), a segmentation set (images/ + masks/) "
                                          "or class folders (the uncracked class is used)"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder to write"),
    config: str = typer.Option("cpu", "--config", help="cpu (64 px, ngf 32) or paper (256 px, ngf 64)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="number of epochs (default: the config's)"),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="training crop / inference tile side (px)"),
    ngf: Optional[int] = typer.Option(None, "--ngf", help="generator and discriminator width"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    steps_per_epoch: Optional[int] = typer.Option(None, "--steps-per-epoch", help="cap an epoch at this many steps"),
    vgg_weights: Optional[Path] = typer.Option(None, "--vgg-weights",
                                               help="torchvision's vgg19-dcbb9e9d.pth (ImageNet) for the style term"),
    style: Optional[str] = typer.Option(None, "--style", help="imagenet | random (fixed random VGG-19: the paper "
                                                              "config's default without weights) | off (the cpu "
                                                              "config's default)"),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", help="stop after this many minutes"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out"),
    seed: Optional[int] = typer.Option(None, "--seed"),
) -> None:
    """Train a UP-CrackNet restorer on crack-free images (no crack label is used)."""
    from crackscope.unsupervised.config import CONFIGS, STYLE_CHOICES
    from crackscope.unsupervised.train import train_restorer

    if config not in CONFIGS:
        fail(f"unknown --config {config!r}; choose from {', '.join(sorted(CONFIGS))}")
    if style is not None and style not in STYLE_CHOICES:
        fail(f"unknown --style {style!r}; choose from {', '.join(STYLE_CHOICES)}")
    try:
        with ProgressBars() as bars:
            run = train_restorer(
                data, out=out, config=config, epochs=epochs, image_size=image_size, ngf=ngf, batch_size=batch_size,
                steps_per_epoch=steps_per_epoch, vgg_weights=vgg_weights, style=style, resume=resume, seed=seed,
                time_budget=None if time_budget is None else time_budget * 60.0, on_progress=bars,
            )
    except ValueError as exc:
        if type(exc) is not ValueError:
            raise
        fail(str(exc))
        return
    console.print(f"restorer run written to [bold]{run}[/] (best generator: model.safetensors, samples/)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("train-restorer")(train_restorer_cmd)
