"""Data commands: ``synth`` (synthetic cracks), ``inspect`` (look at a dataset), ``split`` (train/val/test CSV)."""

from __future__ import annotations

from pathlib import Path

import typer

from crackscope.cli.common import (
    LAYOUT_OPTION,
    ProgressBars,
    check_layout,
    console,
    exit_for_batch,
    fail,
    fail_for_data,
    out,
    print_skipped,
    status,
)
from crackscope.errors import BadInputError


def synth_cmd(
    out_dir: Path = typer.Option(
        ..., "--out", "-o", metavar="DIR", help="Folder to write images/, masks/ and labels.csv to."
    ),
    n: int = typer.Option(100, "--n", min=1, help="Number of images."),
    size: int = typer.Option(256, "--size", min=16, help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same images)."),
) -> None:
    """Write N synthetic concrete-like images with exact crack masks (about half crack-free)."""
    from crackscope.data.synth import synthesize

    with ProgressBars() as bars:
        bars("synth", 0, n)
        synthesize(out_dir, n=n, size=size, seed=seed, progress=lambda done: bars("synth", done, n))
    console.print(f"[green]wrote[/] {n} images to {out_dir}/images, masks to {out_dir}/masks, {out_dir}/labels.csv")


def inspect_cmd(
    data: Path = typer.Argument(..., metavar="DATA", help="Data set folder."),
    out_dir: Path = typer.Option(
        ..., "--out", "-o", metavar="DIR", help="Folder for summary.json, samples.png and histograms."
    ),
    layout: str | None = LAYOUT_OPTION,
    max_per_class: int = typer.Option(500, "--max-per-class", min=2, help="Images per class for pixel statistics."),
    seed: int = typer.Option(0, "--seed", help="Seed for picking the images used for pixel statistics."),
) -> None:
    """Counts per class, balance, sizes and modes, a sample grid, RGB histograms and a shortcut warning."""
    from rich.table import Table

    from crackscope.data.inspect import inspect_dataset

    check_layout(layout)
    try:
        with status(f"inspecting {data}"):
            summary = inspect_dataset(data, out=out_dir, layout=layout, max_per_class=max_per_class, seed=seed)
    except (BadInputError, ValueError, OSError) as exc:
        fail_for_data(exc, data)

    table = Table(title=f"{data} ({summary['layout']})")
    table.add_column("class")
    table.add_column("images", justify="right")
    table.add_column("share", justify="right")
    for name, count in summary["classes"].items():
        table.add_row(name, str(count), f"{summary['balance'][name]:.1%}")
    table.add_row("total", str(summary["images"]), "")
    out.print(table)
    if "patches" in summary:
        p = summary["patches"]
        out.print(
            f"patches ({p['patch_size']} px, stride {p['stride']}, >= {p['min_crack_pixels']} crack px, margin "
            f"{p['margin']}): {p['cracked']} cracked, {p['uncracked']} uncracked, {p['ambiguous_dropped']} "
            "ambiguous dropped"
        )
    sizes = ", ".join(f"{s['width']}x{s['height']} ({s['count']})" for s in summary["sizes"][:5])
    more = f" and {summary['distinct_sizes'] - 5} more" if summary["distinct_sizes"] > 5 else ""
    out.print(f"sizes: {sizes}{more}")
    out.print("modes: " + ", ".join(f"{m} ({n})" for m, n in summary["modes"].items()))
    shortcut = summary["shortcut"]
    if shortcut.get("checked"):
        unit = shortcut.get("unit", "image")
        out.print(
            f"{unit}s, cracked vs uncracked: brightness d = {shortcut['brightness_smd']:+.2f}, "
            f"contrast d = {shortcut['contrast_smd']:+.2f} (rule: {shortcut['rule']})",
            highlight=False,
        )
    for message in shortcut["messages"]:
        console.print(f"[bold yellow]warning:[/] {message}" if shortcut["warning"] else message, highlight=False)
    alignment = summary["mask_alignment"]
    if alignment["misaligned"]:
        console.print(
            f"[bold yellow]warning:[/] {len(alignment['misaligned'])} of {alignment['checked']} masks do not sit on "
            "their photos (they mark lines that are not darker than the surface around them; turned or mirrored "
            "they would): fix them before training or scoring on them",
            highlight=False,
        )
        for entry in alignment["misaligned"][:20]:
            out.print(
                f"  {entry['mask']} fits {entry['fits']} (line depth {entry['depth']:+.1f} as given, "
                f"{entry['depth_there']:+.1f} so)",
                highlight=False,
                soft_wrap=True,
            )
        if len(alignment["misaligned"]) > 20:
            out.print(f"  ... all in {out_dir}/summary.json", highlight=False)
    skipped = [(entry["path"], entry["problem"]) for entry in summary["skipped"]]
    print_skipped(skipped, limit=50, more=f" (all in {out_dir}/summary.json)")
    console.print(f"[green]wrote[/] {out_dir}/summary.json, samples.png and histograms")
    exit_for_batch(sum(summary["pixel_stats_samples"].values()), len(skipped), what="image")  # pixels read


def split_cmd(
    data: Path = typer.Argument(..., metavar="DATA", help="Data set folder."),
    out_dir: Path = typer.Option(
        ..., "--out", "-o", metavar="DIR", help="Folder for split.csv (key,group,label,split; for `train --split`)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same split)."),
    val: float = typer.Option(0.15, "--val", min=0.0, max=1.0, help="Validation fraction."),
    test: float = typer.Option(0.15, "--test", min=0.0, max=1.0, help="Test fraction."),
    layout: str | None = LAYOUT_OPTION,
    patch_size: int | None = typer.Option(
        None, "--patch-size", min=0, help="Patch side for image+mask sets (default: automatic; 0: whole photos)."
    ),
    stride: int | None = typer.Option(None, "--stride", min=1, help="Patch stride (default: patch size)."),
) -> None:
    """Split a data set into train/val/test, stratified by class and grouped by source photo."""
    from rich.table import Table

    from crackscope.data.items import dataset_items
    from crackscope.data.splits import split_counts, split_items, write_split_csv

    check_layout(layout)
    if val + test >= 1.0:
        fail(f"--val {val} plus --test {test} leaves nothing to train on")
    try:
        items = dataset_items(data, layout=layout, patch_size=patch_size, stride=stride)
    except (BadInputError, ValueError, OSError) as exc:
        fail_for_data(exc, data)
    if not items:
        print_skipped([(str(path), problem) for path, problem in items.skipped], limit=20)
        console.print(f"[yellow]{data}: no labelled items (all patches ambiguous or all files skipped)[/]")
        exit_for_batch(0, len(items.skipped), what="file")
    splits = split_items(items, fractions=(1.0 - val - test, val, test), seed=seed)
    out_csv = out_dir / "split.csv"
    write_split_csv(out_csv, splits)

    table = Table(title=f"split of {data} (seed {seed})")
    for column in ("split", "cracked", "uncracked", "groups"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for name, c in split_counts(splits).items():
        table.add_row(name, str(c["cracked"]), str(c["uncracked"]), str(c["groups"]))
    out.print(table)
    if items.settings:
        s = items.settings
        console.print(
            f"patches {s['patch_size']} px, stride {s['stride']}, >= {s['min_crack_pixels']} crack px, margin "
            f"{s['margin']}; {items.dropped} ambiguous dropped",
            highlight=False,
        )
    if items.skipped:
        first_path, first_problem = items.skipped[0]
        console.print(f"[yellow]skipped {len(items.skipped)} file(s)[/], first: {first_path}: {first_problem}")
    console.print(f"[green]wrote[/] {out_csv}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("synth")(synth_cmd)
    app.command("inspect")(inspect_cmd)
    app.command("split")(split_cmd)
