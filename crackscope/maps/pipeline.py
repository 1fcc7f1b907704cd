"""``map_images``: map whole photos with a run and write masks, soft maps, skeletons, overlays and measurements.

Output folder layout::

    OUT/masks/<stem>.png          0/255 crack mask, same size as the input
    OUT/probability/<stem>.png    soft map, 8-bit (round(p x 255))
    OUT/skeletons/<stem>.png      0/255 one-pixel centre lines
    OUT/overlays/<stem>.png       the photo with cracks outlined and numbered (numbers = cracks.csv crack_id)
    OUT/records/<stem>.json       everything known about one image (written last: it marks the image done)
    OUT/cracks.csv                one row per crack per image, rebuilt from all records
    OUT/summary.json              the batch headline, per image summary, errors of this run, counts, a manifest

Each record and summary entry has a ``headline`` (:func:`crackscope.maps.measure.summarize_cracks`: cracks,
total length, maximum and mean width, in mm with a scale) and ``mapped_at_scale`` (the factor the photo was
resampled by to be mapped, :mod:`crackscope.maps.scale`) and ``no_data_share`` (the share of the photo that is
fill without image data, left out of the maps, :mod:`crackscope.maps.no_data`); ``cracked`` is the classifier's
verdict or a crack left in the mask (:func:`crackscope.maps.base.photo_verdict`). Components along the photo's border
(:func:`crackscope.maps.postprocess.drop_border_artefacts`: a dark frame, an edge strip) are not cracks and are
left out of the mask before it is measured and written.

Re-running skips an image whose record and four images exist and whose record was made with the same
settings (``overwrite=True`` redoes it); an image whose record is missing (a run killed before writing it) is
redone, and temporary files a killed run left behind are removed when the next run starts. A file that cannot
be read or mapped, and an input that names no image (a missing path, a folder or pattern with no image file, a
FIFO, a broken symlink), is listed in ``errors``; the others are still done. ``cracks.csv`` and
``summary.json`` are written even when the run stops early. Every file is written atomically.

The batch rules every photo command shares (each input on its own; one bad input never ends the batch) are
in :mod:`crackscope.inputs`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from crackscope.errors import BadInputError
from crackscope.inputs import INPUT_ERRORS, expand_inputs, problem_of
from crackscope.maps.base import Mapper
from crackscope.maps.recipe import MapRecipe
from crackscope.progress import OnProgress, report

OUTPUT_DIRS = ("masks", "probability", "skeletons", "overlays")
RECORDS = "records"
CSV_COLUMNS = (
    "filename",
    "crack_id",
    "length_px",
    "mean_width_px",
    "max_width_px",
    "orientation_deg",
    "bbox_y0",
    "bbox_x0",
    "bbox_y1",
    "bbox_x1",
    "area_px",
    "length_mm",
    "mean_width_mm",
    "max_width_mm",
    "area_mm2",
)


def _paths(out: Path, stem: str) -> dict[str, Path]:
    paths = {d: out / d / f"{stem}.png" for d in OUTPUT_DIRS}
    paths["record"] = out / RECORDS / f"{stem}.json"
    return paths


def finished_record(out: Path, stem: str, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The image's record if all its outputs exist and were made with ``settings``; else None."""
    paths = _paths(out, stem)
    if not all(p.is_file() for p in paths.values()):
        return None
    try:
        record = json.loads(paths["record"].read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if record.get("settings") == settings else None


def _to_u8(prob: np.ndarray) -> np.ndarray:
    """round(p x 255) as uint8, NaN as 0 and values clipped to [0, 1] (in place on one float32 copy)."""
    p = np.nan_to_num(np.asarray(prob, np.float32), nan=0.0)  # a copy, worked on in place below
    np.clip(p, 0.0, 1.0, out=p)
    p *= np.float32(255)
    return np.rint(p, out=p).astype(np.uint8)


def _write_skeleton(path: Path, mask: np.ndarray) -> Path:
    from crackscope.io import write_image_atomic
    from crackscope.maps.postprocess import skeletonize_mask

    return write_image_atomic(path, skeletonize_mask(mask))


def map_one(
    mapper: Mapper,
    path: Path,
    out: Path,
    *,
    stem: str,
    mm_per_px: float | None,
    settings: dict[str, Any],
    on_progress: OnProgress | None = None,
) -> dict[str, Any]:
    """Map one photo and write its outputs; returns its record."""
    from crackscope.io import read_image, write_image_atomic, write_json_atomic
    from crackscope.maps.base import photo_verdict
    from crackscope.maps.measure import CRACK_LINK_PX, measure_cracks, summarize_cracks
    from crackscope.maps.overlay import draw_overlay
    from crackscope.maps.postprocess import drop_border_artefacts, label_cracks

    image = read_image(path)
    result = mapper.map_image(image, name=path.name, on_progress=on_progress)
    h, w = image.shape[:2]
    if result.mask.shape != (h, w) or result.probability.shape != (h, w):
        raise RuntimeError(f"mapper returned maps of size {result.mask.shape}, expected {(h, w)}")
    mask = drop_border_artefacts(np.asarray(result.mask, bool))  # a dark frame or edge strip is not a crack
    labels, n_cracks = label_cracks(mask, link=CRACK_LINK_PX)
    ids = list(range(1, n_cracks + 1))  # measure_cracks numbers the cracks by these labels, as cracks.csv does
    paths = _paths(out, stem)
    # The four images are made and encoded in two threads while the cracks are measured: Pillow's PNG encoder and
    # scikit-image's thinning release the GIL. On a 13 MP photo the writes took 1.0 s one after another (0.77 s of
    # it the overlay, now drawn first) and the skeleton 0.2 s; the measurement takes 0.8 s (profiled on the mosaic
    # of benchmarks/bench_mosaic.py).
    with ThreadPoolExecutor(max_workers=2) as writer:
        written = [
            writer.submit(write_image_atomic, paths["overlays"], draw_overlay(image, mask, labels, ids)),
            writer.submit(write_image_atomic, paths["masks"], mask),
            writer.submit(write_image_atomic, paths["probability"], _to_u8(result.probability)),
        ]
        written.append(writer.submit(_write_skeleton, paths["skeletons"], mask))
        cracks = measure_cracks(mask, mm_per_px=mm_per_px, labels=(labels, n_cracks))
        if [c.id for c in cracks] != ids:
            raise RuntimeError("crack numbers of the measurement and the overlay differ")
        for done in written:
            done.result()  # a failed write raises here, before the record marks the image finished
    record = {
        "file": str(path),
        "name": stem,
        "width": w,
        "height": h,
        "crack_probability": result.crack_probability,
        # the classifier's verdict, or a crack left in the mask (the restorer route has only the latter)
        "cracked": photo_verdict(result, mask),
        "mapped_at_scale": result.scale,
        "no_data_share": round(result.no_data, 4),
        "headline": summarize_cracks(cracks, mm_per_px=mm_per_px).as_dict(),
        "n_cracks": len(cracks),
        "crack_pixels": int(np.count_nonzero(mask)),
        "total_length_px": float(sum(c.length_px for c in cracks)),
        "max_width_px": float(max((c.max_width_px for c in cracks), default=0.0)),
        "total_length_mm": None if mm_per_px is None else float(sum(c.length_mm or 0 for c in cracks)),
        "max_width_mm": None if mm_per_px is None else float(max((c.max_width_mm or 0 for c in cracks), default=0.0)),
        "tiles": [t.as_dict() for t in result.tiles],
        "cracks": [c.as_dict() for c in cracks],
        "settings": settings,
    }
    write_json_atomic(paths["record"], record)  # last: marks the image finished
    return record


def csv_rows(record: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """``cracks.csv`` rows (:data:`CSV_COLUMNS`) of one image's record (``file`` and its ``cracks``)."""
    filename = Path(record["file"]).name
    for c in record["cracks"]:
        y0, x0, y1, x1 = c["bbox"]
        row = {"filename": filename, "crack_id": c["id"], "bbox_y0": y0, "bbox_x0": x0, "bbox_y1": y1, "bbox_x1": x1}
        for key in CSV_COLUMNS:
            if key not in row:
                value = c.get(key)
                row[key] = "" if value is None else (round(value, 4) if isinstance(value, float) else value)
        yield row


def write_cracks_csv(out: Path, records: list[dict[str, Any]]) -> Path:
    """cracks.csv: one row per crack per image (columns ``CSV_COLUMNS``)."""
    from crackscope.io import write_text_atomic

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerows(csv_rows(record))
    return write_text_atomic(out / "cracks.csv", buf.getvalue())


def _load_records(out: Path) -> list[dict[str, Any]]:
    records = []
    for p in sorted((out / RECORDS).glob("*.json")):
        try:
            records.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return records


def _batch_headline(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The batch's headline from its photos' records (records of an older version, without one, are left out)."""
    from crackscope.maps.measure import CrackSummary, combine_summaries

    return combine_summaries(CrackSummary.from_dict(r["headline"]) for r in records if r.get("headline")).as_dict()


def _summary_entry(record: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "file",
        "name",
        "width",
        "height",
        "crack_probability",
        "cracked",
        "n_cracks",
        "crack_pixels",
        "total_length_px",
        "max_width_px",
        "total_length_mm",
        "max_width_mm",
        "mapped_at_scale",
        "no_data_share",
        "headline",
        "tiles",
    )
    return {k: record.get(k) for k in keys}


def run_settings(run: str | Path, mapper: Mapper, *, mm_per_px: float | None) -> dict[str, Any]:
    """The settings every record of a map run stores (the run folder, the scale and the mapper's settings, as JSON
    values): a photo whose record holds other settings is mapped again."""
    from crackscope.runs import resolve_run_dir

    settings: dict[str, Any] = {"run": str(resolve_run_dir(run).resolve()), "mm_per_px": mm_per_px}
    settings.update(mapper.settings())
    parsed: dict[str, Any] = json.loads(json.dumps(settings, default=str))
    return parsed


def prepare_output(out: Path) -> None:
    """Make the output folders and remove the temporary files a killed run left in them."""
    from crackscope.io import remove_stale_temporary_files

    for d in (*OUTPUT_DIRS, RECORDS):
        (out / d).mkdir(parents=True, exist_ok=True)
        remove_stale_temporary_files(out / d, recursive=False)  # what a killed run was writing
    remove_stale_temporary_files(out, recursive=False)


def map_images(
    run: str | Path,
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    recipe: MapRecipe | str | None = None,
    mm_per_px: float | None = None,
    overwrite: bool = False,
    on_progress: OnProgress | None = None,
    mapper: Mapper | None = None,
) -> dict[str, Any]:
    """Map every input photo with ``run`` and write the output folder (see the module doc).

    ``run`` is a run folder or ``"builtin"``; ``recipe`` a :class:`~crackscope.maps.recipe.MapRecipe` or a
    preset name (None: the run's own recipe, :func:`crackscope.maps.factory.default_recipe`); ``mapper``
    replaces the one :func:`~crackscope.maps.factory.make_mapper` would build (any
    :class:`~crackscope.maps.base.Mapper`). ``on_progress`` is told of photos (and of the tiles of big
    photos). Returns the summary (also written to ``OUT/summary.json``): ``images`` (every finished image in
    OUT), ``errors`` (files and inputs skipped in this run, with the problem), ``counts`` and ``manifest``.
    ``counts["done"]`` is the number of inputs whose outputs exist after the run (mapped now or before). One bad
    input never ends the run; ``cracks.csv`` and ``summary.json`` are written even if the run is interrupted.

    Raises
    ------
    ValueError
        If ``mm_per_px`` is not positive.
    BadInputError
        If the run, the preset or a pixel model the recipe needs cannot be found.
    """
    from crackscope.io import manifest
    from crackscope.maps.factory import make_mapper

    if mm_per_px is not None and not mm_per_px > 0:
        raise ValueError(f"mm_per_px must be > 0, got {mm_per_px}")
    out = Path(out)
    paths, input_problems = expand_inputs(inputs if not isinstance(inputs, (str, Path)) else [inputs])
    if mapper is None:
        mapper = make_mapper(run, recipe, class_map=False)  # no output shows the class map
    settings = run_settings(run, mapper, mm_per_px=mm_per_px)
    prepare_output(out)

    errors: list[dict[str, str]] = [{"file": str(path), "problem": problem} for path, problem in input_problems]
    counts = {"inputs": len(paths), "mapped": 0, "skipped": 0, "errors": len(errors)}
    seen: dict[str, Path] = {}
    report(on_progress, "mapping", 0, len(paths))
    try:
        for i, path in enumerate(paths, 1):
            stem = path.stem
            try:
                if stem in seen:
                    raise BadInputError(path, f"same file name as {seen[stem]}; outputs would collide")
                seen[stem] = path
                if not overwrite and finished_record(out, stem, settings) is not None:
                    counts["skipped"] += 1
                else:
                    map_one(
                        mapper, path, out, stem=stem, mm_per_px=mm_per_px, settings=settings, on_progress=on_progress
                    )
                    counts["mapped"] += 1
            except INPUT_ERRORS as exc:
                errors.append({"file": str(path), "problem": problem_of(exc)})
                counts["errors"] += 1
            report(on_progress, "mapping", i, len(paths))
    finally:  # what is finished is summed up, also when the run stops early
        run_manifest = manifest(command="map", inputs=[str(p) for p in paths], settings=settings)
        summary = write_summary(out, errors, counts, set(seen), run_manifest)
    return summary


def write_summary(
    out: Path,
    errors: list[dict[str, str]],
    counts: dict[str, int],
    stems: set[str],
    run_manifest: dict[str, object],
) -> dict[str, Any]:
    """Rebuild ``cracks.csv`` from every record in OUT and write ``summary.json``; returns the summary."""
    from crackscope.io import write_json_atomic

    records = _load_records(out)
    write_cracks_csv(out, records)
    counts["done"] = counts["mapped"] + counts["skipped"]
    counts["cracks"] = sum(r.get("n_cracks", 0) for r in records if r.get("name") in stems)
    summary = {
        "headline": _batch_headline(records),
        "images": [_summary_entry(r) for r in records],
        "errors": errors,
        "counts": counts,
        "manifest": run_manifest,
    }
    write_json_atomic(out / "summary.json", summary)
    return summary
