"""``build_report``: one self-contained HTML file about a run (images embedded as base64 PNG, no internet)."""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crackscope.errors import BadInputError
from crackscope.maps.measure import CrackMeasurement, CrackSummary, combine_summaries, summarize_cracks
from crackscope.maps.recipe import MapRecipe
from crackscope.progress import OnProgress, report
from crackscope.report import render
from crackscope.report.gallery import SHOWN_MAX_SIDE, SHOWN_MIN_SIDE, Case, explain_images, map_cases, pick_cases
from crackscope.report.template import Raw, esc, fmt, img, page, table

METRIC_KEYS = ("n", "accuracy", "precision", "recall", "f1", "roc_auc", "ece")
MAX_SCORED_ITEMS = 2000
GALLERY_PER_GROUP = 4  # gallery images per group (most and least confident; twice as many errors)
_MASK_DIRS = ("masks", "mask", "gt", "groundtruth", "ground_truth")


def build_report(
    run_dir: str | Path,
    *,
    data: str | Path | None = None,
    maps_dir: str | Path | None = None,
    out: str | Path | None = None,
    method: str | None = None,
    preset: MapRecipe | str | None = None,
    layout: str | None = None,
    on_progress: OnProgress | None = None,
) -> Path:
    """Write a self-contained HTML report about the run in ``run_dir``; returns its path.

    ``data``: the data folder (default: the one the run was trained on, when it still exists), used for
    the data summary, the sample grid and the ground-truth masks; ``layout`` is its layout (one of
    ``crackscope.data.layouts.LAYOUTS``; None: detected): with ``image-mask`` the maps are scored against its
    masks, with the other layouts (no masks) they are not. ``maps_dir``: a ``crackscope map`` output whose
    measurements are tabulated and, where ``data`` has masks, scored (exact and 2 px).
    The gallery's masks are made with ``preset`` (default: the run's own recipe) and its CAM ``method``
    (default: the recipe's). ``out`` defaults to ``RUN/report.html`` (``./builtin-report.html`` for the
    bundled run, whose folder is inside the installed package). The gallery shows :data:`GALLERY_PER_GROUP`
    images of each group. ``on_progress`` is told of the report's steps (task ``"report"``) and of the gallery's
    images (task ``"gallery"``).

    The summary opens with the cracks' headline (number, total length, largest and mean width; in mm when
    the maps were made with a scale) of the maps folder, or else of the gallery's images; each photo has its
    own headline beside it.

    Raises
    ------
    BadInputError
        If the run, the data folder or the maps folder cannot be found or read, or the data folder has no
        masks folder though ``layout`` is ``image-mask``.
    ValueError
        If ``layout`` is not a known layout or ``method`` is not an explanation method.
    """
    from crackscope.maps.factory import resolve_recipe
    from crackscope.runs import builtin_run_dir, read_run_config, resolve_run_dir

    run_dir = resolve_run_dir(run_dir)
    config = read_run_config(run_dir)
    if layout is not None:
        from crackscope.data.layouts import LAYOUTS

        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    recipe = resolve_recipe(run_dir, preset) if config.get("kind", "classifier") == "classifier" else None
    if recipe is not None and method is not None:
        recipe = recipe.with_(method=method)
    if out is None:
        out = Path("builtin-report.html") if run_dir == builtin_run_dir() else run_dir / "report.html"
    out = Path(out)
    data_root = _data_root(config, data)
    gt_dir = _gt_dir(data_root, layout)
    maps = Path(maps_dir) if maps_dir is not None else None
    if maps is not None and not maps.is_dir():
        raise BadInputError(maps, "maps folder not found (make one with `crackscope map`)")

    steps = 6
    report(on_progress, "report", 0, steps)
    metrics = _read_json(run_dir / "metrics.json")
    items = _split_items(run_dir, data_root)
    scores = _scores(maps, gt_dir) if maps is not None else None
    report(on_progress, "report", 1, steps)
    data_html = _data_section(data_root, items, layout=layout)
    training_html = _training_section(run_dir)
    report(on_progress, "report", 2, steps)
    cases: list[Case] = []
    if config.get("kind", "classifier") == "classifier" and items:
        assert recipe is not None  # classifier runs have one
        gallery_html, cases = _gallery_section(
            run_dir, items, recipe=recipe, per_group=GALLERY_PER_GROUP, on_progress=on_progress
        )
    else:
        gallery_html = '<p class="note">No labelled test images found (pass --data DATA), so no gallery.</p>'
    report(on_progress, "report", 3, steps)
    photos = _map_photos(maps) if maps is not None else None
    sections: list[tuple[str, str, str]] = [
        ("summary", "Summary", _summary_section(run_dir, config, metrics, scores, _crack_headline(photos, cases))),
        ("data", "Data", data_html),
        ("training", "Training", training_html),
        ("metrics", "Metrics", _metrics_section(metrics)),
        ("threshold", "Decision threshold", _threshold_section(config, metrics)),
        ("gallery", "Gallery", gallery_html),
        ("measurements", "Crack measurements", _measurements_section(maps, cases, photos)),
    ]
    report(on_progress, "report", 4, steps)
    if scores is not None:
        sections.append(("scores", "Crack-map scores", _scores_section(scores)))
    report(on_progress, "report", 5, steps)

    title = f"crackscope report: {run_dir.name}"
    subtitle = f"model {config.get('model', '?')} · written {time.strftime('%Y-%m-%d %H:%M')}"
    from crackscope.io import write_text_atomic

    path = write_text_atomic(out, page(title=title, subtitle=subtitle, sections=sections))
    path.chmod(0o644)  # a report is for reading: not the private mode of the temporary file
    report(on_progress, "report", steps, steps)
    return path


# -- inputs --------------------------------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or an empty dict when there is no such file."""
    from crackscope.io import read_json_object

    return read_json_object(path) if path.is_file() else {}


def _data_root(config: dict[str, Any], data: str | Path | None) -> Path | None:
    if data is not None:
        root = Path(data)
        if not root.is_dir():
            raise BadInputError(root, "data folder not found")
        return root
    recorded = config.get("data")
    if isinstance(recorded, dict):
        recorded = recorded.get("root") or recorded.get("path")
    if recorded and Path(str(recorded)).is_dir():
        return Path(str(recorded))
    return None


def _split_items(run_dir: Path, data_root: Path | None) -> dict[str, list[Any]]:
    """The run's split (split name -> labelled items, empty splits dropped), or {} without a split.csv.

    Items are rebuilt from their keys; when the data folder moved, files are found again by name in
    ``data_root``.
    """
    from dataclasses import replace

    from crackscope.data.splits import read_split_csv

    split_csv = run_dir / "split.csv"
    if not split_csv.is_file():
        return {}
    splits = read_split_csv(split_csv)
    moved: dict[str, Path] | None = None
    out: dict[str, list[Any]] = {}
    for name, items in splits.items():
        fixed = []
        for item in items:
            if not item.path.exists() and data_root is not None:
                if moved is None:
                    from crackscope.io import list_images

                    moved = {p.name: p for p in list_images([data_root]) if p.parent.name.lower() not in _MASK_DIRS}
                found = moved.get(item.path.name)
                if found is None:
                    continue
                item = replace(item, path=found)
            fixed.append(item)
        if fixed:
            out[name] = fixed
    return out


def _split_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """metrics.json as split name -> metrics (accepts a flat dict too)."""
    if "accuracy" in metrics:
        return {"test": metrics}
    return {k: v for k, v in metrics.items() if isinstance(v, dict) and "accuracy" in v}


def _headline_split(per_split: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    for name in ("test", "val", "validation", "train"):
        if name in per_split:
            return name, per_split[name]
    return next(iter(per_split.items()), None)


# -- sections ------------------------------------------------------------------------------------------------
def _stat(value: str, label: str) -> str:
    return f'<div class="stat"><b>{value}</b><span>{esc(label)}</span></div>'


def _pct(value: Any) -> str:
    return "&ndash;" if value is None else f"{100 * float(value):.1f}%"


@dataclass(frozen=True)
class _Photo:
    """One mapped photo of a maps folder: its name, the classifier's crack probability and its headline."""

    name: str
    crack_probability: float | None
    cracked: bool | None
    summary: CrackSummary


def _map_photos(maps: Path) -> list[_Photo]:
    """The photos of a ``crackscope map`` output, from its records (one JSON per finished photo)."""
    import json

    photos = []
    for path in sorted((maps / "records").glob("*.json")):
        try:
            record = json.loads(path.read_text())
            settings = record.get("settings") or {}
            scale = settings.get("mm_per_px") if isinstance(settings, dict) else None
            cracks = [CrackMeasurement.from_dict(c) for c in record.get("cracks", [])]
            summary = summarize_cracks(cracks, mm_per_px=float(scale) if scale else None)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a record being written or from another version: left out
        probability = record.get("crack_probability")
        photos.append(
            _Photo(
                name=Path(str(record.get("file", path.stem))).name,
                crack_probability=None if probability is None else float(probability),
                cracked=record.get("cracked"),
                summary=summary,
            )
        )
    return photos


def _unit_values(summary: CrackSummary) -> tuple[str, float, float, float]:
    """``(unit, total length, max width, mean width)`` in mm when the summary has them, else in px."""
    if summary.unit == "mm":
        return (
            "mm",
            float(summary.total_length_mm or 0.0),
            float(summary.max_width_mm or 0.0),
            float(summary.mean_width_mm or 0.0),
        )
    return "px", summary.total_length_px, summary.max_width_px, summary.mean_width_px


def _headline_stats(summary: CrackSummary, *, batch: bool) -> str:
    unit, length, max_width, mean_width = _unit_values(summary)
    none = summary.n_cracks == 0
    stats = [_stat(str(summary.n_photos), "photos")] if batch else []
    stats += [
        _stat(str(summary.n_cracks), "crack" if summary.n_cracks == 1 else "cracks"),
        _stat(f"{length:.1f} {unit}", "total length"),
        _stat("&ndash;" if none else f"{max_width:.2f} {unit}", "max width"),
        _stat("&ndash;" if none else f"{mean_width:.2f} {unit}", "mean width"),
    ]
    return f'<div class="headline cracks">{"".join(stats)}</div>'


def _headline_text(summary: CrackSummary) -> str:
    """One photo's headline in a line: ``2 cracks · total length 120.3 px · max width 5.20 px · ...``."""
    unit, length, max_width, mean_width = _unit_values(summary)
    count = f"{summary.n_cracks} crack{'' if summary.n_cracks == 1 else 's'}"
    if summary.n_cracks == 0:
        return count
    return (
        f"{count} · total length {length:.1f} {unit} · max width {max_width:.2f} {unit} · "
        f"mean width {mean_width:.2f} {unit}"
    )


def _crack_headline(photos: list[_Photo] | None, cases: list[Case]) -> str:
    """The summary's first block: the cracks of the maps folder (or of the gallery) in a few numbers."""
    if photos:
        batch = combine_summaries(p.summary for p in photos)
        scale = "in millimetres" if batch.unit == "mm" else "in pixels (map with --mm-per-px for millimetres)"
        note = f"The {len(photos)} photos of the maps folder, {scale}; each photo under Crack measurements."
    elif cases:
        batch = combine_summaries(summarize_cracks(c.measures) for c in cases)
        note = f"The {len(cases)} gallery images, in pixels (pass --maps DIR, a `crackscope map` output, for photos)."
    else:
        return '<h3>Cracks</h3><p class="note">No crack maps (pass --maps DIR, a `crackscope map` output).</p>'
    return f'<h3>Cracks</h3>{_headline_stats(batch, batch=True)}<p class="note">{esc(note)}</p>'


def _summary_section(
    run_dir: Path, config: dict[str, Any], metrics: dict[str, Any], scores: dict[str, Any] | None, cracks_html: str
) -> str:
    stats = []
    head = _headline_split(_split_metrics(metrics))
    if head:
        name, m = head
        stats.append(_stat(_pct(m.get("accuracy")), f"{name} accuracy"))
        stats.append(_stat(_pct(m.get("recall")), f"{name} recall"))
        if m.get("roc_auc") is not None:
            stats.append(_stat(f"{float(m['roc_auc']):.3f}", f"{name} ROC-AUC"))
    stats.append(_stat(f"{float(config.get('threshold', 0.5)):.3f}", "decision threshold"))
    if scores is not None:
        stats.append(_stat(f"{scores['exact']['f1']:.3f}", "map F1 (exact)"))
        if scores.get("tolerant"):
            stats.append(_stat(f"{scores['tolerant']['f1']:.3f}", f"map F1 ({fmt(scores['tol'], 0)} px)"))
    rows = [
        ("run folder", str(run_dir)),
        ("model", config.get("model", "?")),
        ("image size", config.get("image_size", "?")),
        ("kind", config.get("kind", "classifier")),
    ]
    for key in ("epochs", "seed", "precision", "augment"):
        value = config.get(
            key, (config.get("recipe") or {}).get(key) if isinstance(config.get("recipe"), dict) else None
        )
        if value is not None:
            rows.append((key, value))
    return (
        cracks_html
        + '<h3>Classifier</h3><div class="headline">'
        + "".join(stats)
        + "</div>"
        + table(["setting", "value"], rows)
    )


def _data_section(data_root: Path | None, items: dict[str, list[Any]], *, layout: str | None = None) -> str:
    parts = []
    if data_root is not None:
        given = f" (layout {esc(layout)})" if layout is not None else ""
        parts.append(f'<p class="note">Data folder: <code>{esc(data_root)}</code>{given}</p>')
    if items:
        rows: list[tuple[object, ...]] = []
        counts = []
        for split, its in items.items():
            c = Counter(int(getattr(it, "label", -1)) for it in its)
            counts.append((len(its), c.get(1, 0), c.get(0, 0)))
            rows.append((split, *counts[-1]))
        rows.append((Raw("<b>all</b>"), *(sum(col) for col in zip(*counts, strict=True))))
        parts.append(table(["split", "images", "cracked", "uncracked"], rows))
        grid_items = _sample_items(items)
        if grid_items:
            figs = []
            for it in grid_items:
                try:
                    image = it.load()
                except (BadInputError, OSError):
                    continue
                cls = "cracked" if it.label == 1 else "uncracked"
                thumb = render.upscale_nearest(render.thumbnail(image, max_side=160), min_side=112)
                figs.append(
                    f"<figure>{img(render.array_data_url(thumb), str(it.key))}"
                    f'<figcaption><span class="tag {cls}">{cls}</span></figcaption></figure>'
                )
            parts.append("<h3>Samples</h3>" + f'<div class="grid">{"".join(figs)}</div>')
    else:
        parts.append(
            '<p class="note">The run\'s split could not be read (no split.csv, or the data folder moved: '
            "pass --data DATA).</p>"
        )
    return "\n".join(parts)


def _sample_items(items: dict[str, list[Any]], n_per_class: int = 6) -> list[Any]:
    pool = [it for its in items.values() for it in its]
    chosen: list[Any] = []
    for label in (1, 0):
        of_class = [it for it in pool if getattr(it, "label", None) == label]
        step = max(1, len(of_class) // n_per_class)
        chosen.extend(of_class[::step][:n_per_class])
    return chosen


def _training_section(run_dir: Path) -> str:
    parts = []
    curves = run_dir / "curves.png"
    if curves.is_file():
        parts.append(img(render.file_data_url(curves), "training curves"))
    else:
        parts.append('<p class="note">No curves.png in the run.</p>')
    history = run_dir / "history.csv"
    if history.is_file():
        with open(history, newline="") as fh:
            rows = list(csv.DictReader(fh))
        if rows:
            keys = [k for k in rows[0] if any(r.get(k) not in ("", None) for r in rows)]
            last = rows[-1]
            parts.append(f'<p class="note">{len(rows)} epochs; last epoch:</p>')
            parts.append(table(keys, [[_num(last.get(k)) for k in keys]], digits=4))
    return "\n".join(parts)


def _num(text: Any) -> Any:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and abs(value) < 1e9 else value


def _metrics_section(metrics: dict[str, Any]) -> str:
    per_split = _split_metrics(metrics)
    if not per_split:
        return '<p class="note">No metrics.json in the run.</p>'
    rows = [[split, *[m.get(k) for k in METRIC_KEYS], m.get("threshold")] for split, m in per_split.items()]
    parts = [table(["split", *METRIC_KEYS, "threshold"], rows)]
    for split, m in per_split.items():  # runs trained on several data sources: each source's scores
        sources = (m.get("per_source") or {}).get("sources") or {}
        if sources:
            parts.append(f"<h3>Per source ({esc(split)})</h3>")
            source_rows = [[name, *[v.get(k) for k in METRIC_KEYS]] for name, v in sources.items()]
            parts.append(table(["source", *METRIC_KEYS], source_rows))
    for split, m in per_split.items():
        cm = m.get("confusion_matrix")
        if cm is None and all(k in m for k in ("tn", "fp", "fn", "tp")):
            cm = [[m["tn"], m["fp"]], [m["fn"], m["tp"]]]
        if cm is None:
            continue
        (tn, fp), (fn, tp) = cm
        parts.append(f"<h3>Confusion matrix ({esc(split)})</h3>")
        parts.append(
            '<div class="table-wrap"><table class="confusion"><thead><tr><th>true \\ predicted</th>'
            "<th>uncracked</th><th>cracked</th></tr></thead><tbody>"
            f'<tr><td>uncracked</td><td class="hit">{int(tn)}</td><td class="miss">{int(fp)}</td></tr>'
            f'<tr><td>cracked</td><td class="miss">{int(fn)}</td><td class="hit">{int(tp)}</td></tr>'
            "</tbody></table></div>"
        )
    return "\n".join(parts)


def _threshold_section(config: dict[str, Any], metrics: dict[str, Any]) -> str:
    threshold = float(config.get("threshold", 0.5))
    target = config.get("target_recall")
    if target is None and isinstance(config.get("options"), dict):
        target = config["options"].get("target_recall")
    rows = [("decision threshold", threshold), ("target recall (validation)", target)]
    for split, m in _split_metrics(metrics).items():
        rows.append((f"{split} recall at the threshold", m.get("recall")))
    how = (
        f"chosen on the validation split as the highest threshold whose recall reaches {fmt(target)}"
        if target is not None
        else "the default 0.5 (no target recall was asked for)"
    )
    return (
        f"<p>An image counts as cracked when its crack probability is at least the threshold, {how}. "
        "A missed crack costs more than a false alarm in inspection, so the threshold can be lowered for "
        "recall.</p>" + table(["", "value"], rows)
    )


def _gallery_section(
    run_dir: Path,
    items: dict[str, list[Any]],
    *,
    recipe: MapRecipe,
    per_group: int,
    on_progress: OnProgress | None = None,
) -> tuple[str, list[Case]]:
    from crackscope.training.run import load_run

    run = load_run(run_dir)
    split = "test" if items.get("test") else next(iter(items))
    pool = items[split]
    if len(pool) > MAX_SCORED_ITEMS:
        rng = np.random.default_rng(0)
        pool = [pool[i] for i in sorted(rng.choice(len(pool), MAX_SCORED_ITEMS, replace=False))]
    images, kept = [], []
    for it in pool:
        try:
            images.append(it.load())
            kept.append(it)
        except (BadInputError, OSError):
            continue
    if not images:
        return '<p class="note">The test images could not be read.</p>', []
    probs = run.predict_proba(images)
    labels = np.array([int(it.label) if it.label is not None else -1 for it in kept])
    groups = pick_cases(labels, probs, threshold=run.threshold, per_group=per_group)
    order = [i for key in ("most_confident", "least_confident", "errors") for i in groups[key]]
    cases = [
        Case(
            name=_short_name(str(kept[i].key)),
            group=_group_of(i, groups),
            label=int(labels[i]) if labels[i] >= 0 else None,
            probability=float(probs[i]),
            image=images[i],
        )
        for i in order
    ]
    method = recipe.method
    heats, flags = explain_images(run, [c.image for c in cases], method=method)
    for case, heat, flag in zip(cases, heats, flags, strict=True):
        case.heat, case.flags = heat, flag
    map_cases(run, cases, recipe=recipe, on_progress=on_progress)

    titles = {
        "most_confident": "Most confident cracks",
        "least_confident": "Least confident (closest to the threshold)",
        "errors": "Errors (most wrong first)",
    }
    parts = [
        f'<p class="note">{len(kept)} {esc(split)} images scored; method {esc(method)}; '
        f"masks: preset {esc(recipe.name)}; threshold {run.threshold:.3f}. Components along an image's border "
        "are not counted as cracks. Click an image to see it full size.</p>"
    ]
    for key, title in titles.items():
        chosen = [c for c in cases if c.group == key]
        parts.append(f"<h3>{esc(title)}</h3>")
        if not chosen:
            parts.append('<p class="note">None.</p>')
            continue
        parts.append(
            '<div class="case"><div></div>'
            + "".join(
                f'<div class="case-head">{esc(h)}</div>'
                for h in ("image", f"class-activation map ({method})", "crack mask", "numbered cracks")
            )
            + "</div>"
        )
        parts.extend(_case_row(c, run.threshold) for c in chosen)
    return "\n".join(parts), cases


def _short_name(key: str) -> str:
    """A readable name of an item key (``path`` or ``path#y,x,h,w`` for a patch).

    >>> _short_name("data/train_11175-1.jpg#96,96,96,96")
    'train_11175-1.jpg, patch at x=96, y=96, 96 px'
    >>> _short_name("data/wall.png#0,128,64,32")
    'wall.png, patch at x=128, y=0, 32x64 px'
    """
    path, sep, box = key.rpartition("#")
    if not (sep and path):
        return Path(key).name
    try:
        y, x, h, w = (int(v) for v in box.split(","))
    except ValueError:
        return f"{Path(path).name}#{box}"
    size = f"{w} px" if w == h else f"{w}x{h} px"
    return f"{Path(path).name}, patch at x={x}, y={y}, {size}"


def _group_of(index: int, groups: dict[str, list[int]]) -> str:
    return next(k for k, v in groups.items() if index in v)


def _case_row(case: Case, threshold: float) -> str:
    predicted = "cracked" if case.probability >= threshold else "uncracked"
    truth = {1: "cracked", 0: "uncracked"}.get(case.label, "unknown") if case.label is not None else "unknown"
    wrong = case.label is not None and (case.label == 1) != (predicted == "cracked")
    tags = (
        f'predicted: <span class="tag {predicted}">{predicted}</span><br>'
        f"crack probability {100 * case.probability:.1f}%"
    )
    if wrong:
        tags += ' <span class="tag error">error</span>'
    flags = f'<br><span class="tag error">map {esc(", ".join(case.flags))}</span>' if case.flags else ""
    headline = f'<br><span class="case-headline">{esc(_headline_text(summarize_cracks(case.measures)))}</span>'
    big = render.upscale_nearest
    heat = render.heatmap_overlay(case.image, case.heat) if case.heat is not None else case.image
    mask = case.mask if case.mask is not None else np.zeros(case.image.shape[:2], bool)
    overlay = case.overlay if case.overlay is not None else case.image
    panels = [
        (case.image, "image"),
        (heat, "class-activation map"),
        (mask, "crack mask"),
        (overlay, "numbered cracks"),
    ]
    shown = [big(render.thumbnail(a, max_side=SHOWN_MAX_SIDE), min_side=SHOWN_MIN_SIDE) for a, _ in panels]
    imgs = "".join(
        img(render.array_data_url(a), f"{case.name}: {alt}") for a, (_, alt) in zip(shown, panels, strict=True)
    )
    return (
        f'<div class="case"><div class="label"><b>{esc(case.name)}</b>true: {esc(truth)}<br>{tags}{flags}'
        f"{headline}</div>{imgs}</div>"
    )


_MM_COLUMNS = (("length_mm", "length mm"), ("mean_width_mm", "mean width mm"), ("max_width_mm", "max width mm"))
_PX_COLUMNS = (("length_px", "length px"), ("mean_width_px", "mean width px"), ("max_width_px", "max width px"))
BBOX_HEADER = "bbox (y0, x0, y1, x1) px"


def _crack_table(rows: list[tuple[str, dict[str, Any]]], *, scaled: bool) -> str:
    """Cracks as a table: photo, id, the millimetre columns first when there is a scale, then pixels,
    orientation and the bounding box (rows ``(photo, CrackMeasurement.as_dict())``)."""
    mm = [*_MM_COLUMNS, ("area_mm2", "area mm²")] if scaled else []
    columns = [*mm, *_PX_COLUMNS, ("area_px", "area px"), ("orientation_deg", "orientation °")]
    headers = ["photo", "#", *(label for _, label in columns), BBOX_HEADER]
    body = [
        [name, d.get("id"), *(_num(d.get(key)) for key, _ in columns), ", ".join(str(v) for v in d.get("bbox", []))]
        for name, d in rows
    ]
    return table(headers, body, cls="cracks", digits=2)


def _csv_crack(row: dict[str, str]) -> dict[str, Any]:
    """A cracks.csv row in the form of ``CrackMeasurement.as_dict()``."""
    d: dict[str, Any] = {k: (None if v in ("", None) else v) for k, v in row.items()}
    d["id"] = row.get("crack_id")
    d["bbox"] = [row.get(f"bbox_{k}", "") for k in ("y0", "x0", "y1", "x1")]
    return d


def _photos_table(photos: list[_Photo]) -> str:
    """One row per photo of the maps folder: crack probability and the headline (mm first with a scale)."""
    scaled = all(p.summary.unit == "mm" for p in photos)
    headers = ["photo", "crack probability", "cracks"]
    if scaled:
        headers += ["total length mm", "max width mm", "mean width mm"]
    headers += ["total length px", "max width px", "mean width px"]
    rows = []
    for p in photos:
        s = p.summary
        prob = "&ndash;" if p.crack_probability is None else f"{100 * p.crack_probability:.1f}%"
        some = s.n_cracks > 0  # without cracks there is no width: a dash
        mm = [s.total_length_mm, s.max_width_mm if some else None, s.mean_width_mm if some else None] if scaled else []
        px = [s.total_length_px, s.max_width_px if some else None, s.mean_width_px if some else None]
        rows.append([p.name, Raw(prob), s.n_cracks, *mm, *px])
    return table(headers, rows, cls="photos", digits=2)


def _measurements_section(maps: Path | None, cases: list[Case], photos: list[_Photo] | None = None) -> str:
    if maps is not None and (maps / "cracks.csv").is_file():
        with open(maps / "cracks.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        parts = []
        if photos:
            parts.append("<h3>Per photo</h3>" + _photos_table(photos))
        count = f"{len(rows)} crack{'' if len(rows) == 1 else 's'}"
        note = f'<p class="note">From <code>{esc(maps / "cracks.csv")}</code>: {count}.'
        shown = rows[:200]
        if len(rows) > len(shown):
            note += f" The first {len(shown)} are shown."
        note += " Bounding boxes: top row, left column, bottom row, right column (exclusive ends).</p>"
        parts.append("<h3>Cracks</h3>" + note)
        if rows:
            scaled = any(r.get("length_mm") not in ("", None) for r in rows)
            parts.append(_crack_table([(r.get("filename", ""), _csv_crack(r)) for r in shown], scaled=scaled))
        return "\n".join(parts)
    found = [(case.name, m.as_dict()) for case in cases for m in case.measures]
    if not found:
        return '<p class="note">No cracks were found in the gallery images.</p>'
    return (
        '<p class="note">Cracks found in the gallery images (pixels; map a folder with `crackscope map '
        "--mm-per-px` for millimetres). Bounding boxes: top row, left column, bottom row, right column "
        "(exclusive ends).</p>" + _crack_table(found, scaled=False)
    )


def _scores(maps: Path, gt: Path | None) -> dict[str, Any] | None:
    """Score the maps against the exact masks in ``gt`` (exact and 2 px), or None without ground truth."""
    from crackscope.evaluation.map_scores import score_dirs

    if gt is None or not (maps / "masks").is_dir():
        return None
    result = score_dirs(maps, gt, tol=2)
    return result if result.get("n_images") else None


def _gt_dir(data_root: Path | None, layout: str | None = None) -> Path | None:
    """The data's folder of exact masks: its ``masks/`` (or ``gt/``...) folder; None without a data folder, or
    when ``layout`` names a layout without masks.

    Raises
    ------
    BadInputError
        If ``layout`` is ``image-mask`` and the data folder has no masks folder.
    """
    if data_root is None or layout not in (None, "image-mask"):
        return None
    for name in _MASK_DIRS:
        if (data_root / name).is_dir():
            return data_root / name
    if layout == "image-mask":
        raise BadInputError(data_root, f"image-mask layout needs a masks folder ({', '.join(_MASK_DIRS)})")
    return None


def _scores_section(scores: dict[str, Any]) -> str:
    from crackscope.evaluation.map_scores import plot_pr_curve

    rows = []
    tol = scores.get("tol", 2)
    for label, key in (("exact", "exact"), (f"{fmt(tol, 0)} px tolerance", "tolerant")):
        m = scores.get(key)
        if m:
            rows.append((label, m["precision"], m["recall"], m["f1"], m["iou"]))
    for kind in ("ods", "ois"):
        for key, m in (scores.get(kind) or {}).items():
            label = f"{kind.upper()} {'exact' if key == 'exact' else f'{fmt(tol, 0)} px'}"
            rows.append((label, m["precision"], m["recall"], m["f1"], m["iou"]))
    parts = [
        f'<p class="note">{scores["n_images"]} images matched by name against the exact masks in '
        f"<code>{esc(scores['gt_dir'])}</code>; pixel counts pooled over the set.</p>",
        table(["", "precision", "recall", "F1", "IoU"], rows),
    ]
    curves = scores.get("curves") or {}
    if curves:
        import tempfile

        named = {
            ("exact" if k == "exact" else f"{fmt(tol, 0)} px"): {"curve": c, "ods": scores["ods"][k]}
            for k, c in curves.items()
        }
        with tempfile.TemporaryDirectory() as tmp:
            png = plot_pr_curve(named, Path(tmp) / "pr.png")
            parts.append("<h3>Precision-recall curve of the probability maps</h3>")
            parts.append(img(render.file_data_url(png), "precision-recall curve", width=520))
    return "\n".join(parts)
