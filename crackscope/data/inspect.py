"""Look at a dataset before training: counts, balance, sizes, modes, samples, colour histograms, shortcuts, and
masks that do not sit on their photos (:mod:`crackscope.data.alignment`).

``inspect_dataset(root, out=DIR)`` writes ``DIR/summary.json``, ``DIR/samples.png``,
``DIR/histogram_<class>.png`` and ``DIR/manifest.json``, and returns the summary.

Shortcut rule: for each image (for image+mask sets: each labelled patch, as a model will see them) we
measure brightness (median gray level) and contrast (twice the distance from the median to the 75th
percentile of gray levels: the spread of the brighter half, which thin dark cracks barely change), leaving out crack
pixels (grown by 3 px) when a mask exists, so the cracks themselves do not
count. When the standardized mean difference between the classes (Cohen's d = difference of class means /
pooled standard deviation) exceeds 0.5 in absolute value for either measure, a model could separate the
classes by lighting or camera alone, and a warning is raised.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from scipy import ndimage

from crackscope.data.alignment import MISALIGNED_RULE, mask_alignment
from crackscope.data.layouts import CLASS_NAMES, Dataset, Sample, load_dataset
from crackscope.errors import BadInputError
from crackscope.io import atomic_path, manifest, read_image, read_mask, write_json_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SHORTCUT_SMD = 0.5
SHORTCUT_RULE = (
    "warn when |Cohen's d| > 0.5 between the classes for per-image brightness (median gray) or contrast "
    "(2 x (75th percentile - median) of gray), crack pixels (grown by 3 px) left out where masks exist"
)
_GRAY = np.array([0.299, 0.587, 0.114])
_CLASS_ORDER = ("cracked", "uncracked")


def image_stats(image: np.ndarray, exclude: np.ndarray | None = None) -> tuple[float, float]:
    """(brightness, contrast) of an RGB image: median gray level and 2 x (75th percentile - median).

    Pixels where ``exclude`` is True are left out, unless that would leave fewer than 10% of them.
    """
    gray = image.astype(np.float32) @ _GRAY.astype(np.float32)
    values = gray.ravel()
    if exclude is not None:
        keep = ~np.asarray(exclude, bool).ravel()
        if keep.sum() >= 0.1 * keep.size:
            values = values[keep]
    q50, q75 = np.percentile(values, [50, 75])
    return float(q50), float(2 * (q75 - q50))


def standardized_mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d: (mean a - mean b) / pooled standard deviation (0 when both are constant and equal)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least 2 values per group")
    pooled = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    diff = float(a.mean() - b.mean())
    if pooled < 1e-9:
        return 0.0 if abs(diff) < 1e-9 else math.copysign(math.inf, diff)
    return diff / pooled


def shortcut_check(stats: dict[str, list[tuple[float, float]]], *, threshold: float = SHORTCUT_SMD) -> dict[str, Any]:
    """Apply the shortcut rule to per-class lists of (brightness, contrast); returns a JSON-able verdict."""
    verdict: dict[str, Any] = {"rule": SHORTCUT_RULE, "threshold": threshold, "warning": False, "messages": []}
    cracked, uncracked = stats.get("cracked", []), stats.get("uncracked", [])
    if len(cracked) < 2 or len(uncracked) < 2:
        verdict["messages"].append("not checked: needs at least 2 readable images of each class")
        verdict["checked"] = False
        return verdict
    verdict["checked"] = True
    c, u = np.array(cracked), np.array(uncracked)
    for i, name in enumerate(("brightness", "contrast")):
        d = standardized_mean_difference(c[:, i], u[:, i])
        verdict[f"{name}_smd"] = round(d, 3) if math.isfinite(d) else d
        verdict[f"{name}_mean"] = {
            "cracked": round(float(c[:, i].mean()), 2),
            "uncracked": round(float(u[:, i].mean()), 2),
        }
        if abs(d) > threshold:
            verdict["warning"] = True
            more = "higher" if d > 0 else "lower"
            verdict["messages"].append(
                f"cracked images have {more} {name} than uncracked ones (Cohen's d = {d:+.2f}, rule |d| > "
                f"{threshold}): a model may learn {name} instead of cracks"
            )
    return verdict


def _note(skipped: list[tuple[Path, str]], path: Path, problem: str) -> None:
    if (path, problem) not in skipped:
        skipped.append((path, problem))


def _image_class(sample: Sample, mask: np.ndarray | None) -> str:
    if sample.label is not None:
        return CLASS_NAMES[sample.label]
    return "cracked" if mask is not None and mask.any() else "uncracked"


def _headers(dataset: Dataset, skipped: list[tuple[Path, str]]) -> tuple[Counter[tuple[int, int]], Counter[str]]:
    from crackscope.inputs import INPUT_ERRORS, problem_of

    sizes: Counter[tuple[int, int]] = Counter()
    modes: Counter[str] = Counter()
    for s in dataset.samples:
        try:
            with Image.open(s.path) as img:
                sizes[img.size] += 1
                modes[img.mode] += 1
        except INPUT_ERRORS as exc:  # already checked by load_dataset; a file may change meanwhile
            skipped.append((s.path, f"unreadable ({problem_of(exc)})"))
    return sizes, modes


def _save_figure(fig: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _thumbnail(image: np.ndarray, mask: np.ndarray | None, side: int) -> np.ndarray:
    """A side x side thumbnail (letter-boxed) with crack pixels tinted red."""
    tile = image.astype(np.float32)
    if mask is not None and mask.any():
        tile[mask] = 0.45 * tile[mask] + 0.55 * np.array([255.0, 20.0, 20.0])
    pil = Image.fromarray(tile.round().astype(np.uint8))
    pil.thumbnail((side, side), Image.Resampling.LANCZOS if max(pil.size) > side else Image.Resampling.NEAREST)
    if max(pil.size) < side:  # small images are enlarged with visible pixels
        scale = side / max(pil.size)
        new_size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
        pil = pil.resize(new_size, Image.Resampling.NEAREST)
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(pil, ((side - pil.width) // 2, (side - pil.height) // 2))
    return np.asarray(canvas)


def _sample_grid(
    examples: dict[str, list[tuple[np.ndarray, np.ndarray | None, str]]], path: Path, *, side: int = 96
) -> None:
    """One row per class of thumbnails, class name on the left (PIL only: fast, no plotting library)."""
    from PIL import ImageDraw

    rows = [c for c in _CLASS_ORDER if examples.get(c)]
    cols = max((len(examples[c]) for c in rows), default=1)
    label_w, gap = 80, 4
    grid = Image.new("RGB", (label_w + cols * (side + gap), max(len(rows), 1) * (side + gap) + 18), "white")
    draw = ImageDraw.Draw(grid)
    draw.text((4, 3), "samples per class (crack pixels tinted red where masks exist)", fill=(0, 0, 0))
    for r, name in enumerate(rows):
        y = 18 + r * (side + gap)
        draw.text((4, y + side // 2 - 6), name, fill=(0, 0, 0))
        for c, (image, mask, _title) in enumerate(examples[name]):
            grid.paste(Image.fromarray(_thumbnail(image, mask, side)), (label_w + c * (side + gap), y))
    with atomic_path(path) as tmp:
        grid.save(tmp, format="PNG")


def _histogram_png(name: str, counts: np.ndarray, n_images: int, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    for channel, colour in enumerate(("red", "green", "blue")):
        total = counts[channel].sum()
        ax.plot(np.arange(256), counts[channel] / max(total, 1), color=colour, lw=1, label=colour[0].upper())
    ax.set_xlim(0, 255)
    ax.set_xlabel("pixel value")
    ax.set_ylabel("fraction of pixels")
    ax.set_title(f"{name}: RGB histogram ({n_images} images)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save_figure(fig, path)


def inspect_dataset(
    root: str | Path,
    *,
    out: str | Path,
    layout: str | None = None,
    max_per_class: int = 500,
    grid_per_class: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Summarise a dataset folder and write the summary, sample grid and histograms to ``out``.

    Pixel statistics (shortcut check, histograms, sample grid) use what a model would train on: the files,
    or for image+mask sets the labelled patches (``crackscope.data.items``); up to ``max_per_class`` per
    class, drawn with ``seed``. Counts, sizes and modes cover every file. Every mask that marks a crack is checked
    against its photo (``mask_alignment``: masks turned or mirrored against their photos,
    :mod:`crackscope.data.alignment`). Bad files are listed under ``skipped`` and never stop the inspection.
    """
    from crackscope.inputs import INPUT_ERRORS, odd_entries, problem_of

    if max_per_class < 2:
        raise ValueError(f"max_per_class must be at least 2, got {max_per_class}")
    out = Path(out)
    dataset = load_dataset(root, layout=layout)
    skipped = list(dataset.skipped)
    used = [p for s in dataset.samples for p in (s.path, s.mask_path) if p is not None]
    skipped.extend(odd_entries(dataset.root, [*used, *(p for p, _ in skipped)]))  # FIFOs, broken links...
    sizes, modes = _headers(dataset, skipped)

    # Class of every image (image+mask sets: cracked if the mask has any crack pixel),
    # and, where a mask marks a crack, whether it sits on its photo (crackscope.data.alignment)
    classes: dict[Path, str] = {}
    aligned_checked, misaligned = 0, []
    for s in dataset.samples:
        mask = None
        if s.label is None and s.mask_path is not None:
            try:
                mask = read_mask(s.mask_path, shape=s.shape)
            except BadInputError as exc:
                skipped.append((exc.path or s.mask_path, exc.problem))
                continue
            except INPUT_ERRORS as exc:
                skipped.append((s.mask_path, problem_of(exc)))
                continue
        classes[s.path] = _image_class(s, mask)
        if mask is not None and mask.any():
            try:
                alignment = mask_alignment(read_image(s.path), mask)
            except BadInputError as exc:
                _note(skipped, exc.path or s.path, exc.problem)
                continue
            except INPUT_ERRORS as exc:
                _note(skipped, s.path, problem_of(exc))
                continue
            aligned_checked += 1
            if alignment.misaligned:
                misaligned.append(
                    {
                        "image": str(s.path),
                        "mask": str(s.mask_path),
                        "fits": alignment.best,
                        "depth": alignment.depth,
                        "depth_there": alignment.best_depth,
                    }
                )
    counts = Counter(classes.values())
    total = sum(counts.values())

    # Pixel statistics on what a model will see: whole files, or the labelled patches of image+mask sets.
    from crackscope.data.items import dataset_items

    items = dataset_items(dataset)
    skipped.extend(entry for entry in items.skipped if entry not in skipped)
    rng = np.random.default_rng(seed)
    by_class = {name: [it for it in items if CLASS_NAMES[it.label] == name] for name in _CLASS_ORDER}
    stats: dict[str, list[tuple[float, float]]] = {name: [] for name in _CLASS_ORDER}
    hist = {name: np.zeros((3, 256), np.int64) for name in _CLASS_ORDER}
    examples: dict[str, list[tuple[np.ndarray, np.ndarray | None, str]]] = {name: [] for name in _CLASS_ORDER}
    masks_used = 0
    for name, members in by_class.items():
        # sorted picks keep the patches of one photo together, so each photo is decoded once (cache)
        picks = rng.permutation(len(members))[:max_per_class]
        grid = set(picks[:grid_per_class].tolist())
        for idx in sorted(picks.tolist()):
            item = members[idx]
            try:
                image = item.load()
                mask = item.load_mask()
            except BadInputError as exc:
                skipped.append((exc.path or item.path, exc.problem))
                continue
            except INPUT_ERRORS as exc:
                skipped.append((item.path, problem_of(exc)))
                continue
            if mask is not None and mask.shape != image.shape[:2]:
                skipped.append((item.mask_path, "mask size differs from its image"))
                continue
            masks_used += mask is not None
            exclude = ndimage.binary_dilation(mask, iterations=3) if mask is not None and mask.any() else None
            stats[name].append(image_stats(image, exclude))
            for channel in range(3):
                hist[name][channel] += np.bincount(image[..., channel].ravel(), minlength=256)
            if idx in grid:
                examples[name].append((image, mask, Path(item.key).name))

    out.mkdir(parents=True, exist_ok=True)
    files = {"summary": "summary.json", "samples": "samples.png"}
    _sample_grid(examples, out / "samples.png")
    for name in _CLASS_ORDER:
        if stats[name]:
            files[f"histogram_{name}"] = f"histogram_{name}.png"
            _histogram_png(name, hist[name], len(stats[name]), out / f"histogram_{name}.png")

    shortcut = shortcut_check(stats)
    shortcut["unit"] = "patch" if items.settings else "image"
    if shortcut.get("checked") and masks_used == 0:
        shortcut["messages"].append(
            "measured over whole images (no masks), so wide or many cracks themselves add some contrast and "
            "darkness to the cracked class; check the sample grid before blaming the camera"
        )
    minority = min((counts.get(c, 0) for c in _CLASS_ORDER), default=0)
    summary: dict[str, Any] = {
        "root": str(dataset.root),
        "layout": dataset.layout,
        "images": total,
        "classes": {c: counts.get(c, 0) for c in _CLASS_ORDER},
        "balance": {c: round(counts.get(c, 0) / total, 4) if total else 0.0 for c in _CLASS_ORDER},
        "imbalance_ratio": round(max(counts.values()) / minority, 3) if minority else None,
        "sizes": [{"width": w, "height": h, "count": n} for (w, h), n in sizes.most_common(10)],
        "distinct_sizes": len(sizes),
        "modes": dict(modes.most_common()),
        "pixel_stats_samples": {c: len(stats[c]) for c in _CLASS_ORDER},
        "shortcut": shortcut,
        "skipped": [{"path": str(p), "problem": problem} for p, problem in skipped],
        "mask_alignment": {"rule": MISALIGNED_RULE, "checked": aligned_checked, "misaligned": misaligned},
        "files": files,
    }
    if items.settings:
        summary["patches"] = {**items.settings, **items.counts(), "ambiguous_dropped": items.dropped}
    write_json_atomic(out / "summary.json", summary)
    write_json_atomic(
        out / "manifest.json",
        manifest(
            command="inspect",
            inputs=[dataset.root],
            settings={"layout": dataset.layout, "max_per_class": max_per_class, "seed": seed},
        ),
    )
    return summary
