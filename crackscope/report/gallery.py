"""The report's gallery: which test cases to show, and their heatmaps, masks and overlays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crackscope.maps.recipe import MapRecipe
from crackscope.progress import OnProgress, report

SHOWN_MAX_SIDE = 320  # the report shows gallery images at most this large (click for the full image)
SHOWN_MIN_SIDE = 160  # and enlarges smaller ones (nearest neighbour) to this


@dataclass
class Case:
    """One gallery row: the image, the classifier's view of it, and its crack map."""

    name: str
    group: str
    label: int | None
    probability: float
    image: np.ndarray
    heat: np.ndarray | None = None
    mask: np.ndarray | None = None
    overlay: np.ndarray | None = None
    measures: list[Any] = field(default_factory=list)
    flags: tuple[str, ...] = ()


def pick_cases(
    labels: np.ndarray, probabilities: np.ndarray, *, threshold: float, per_group: int = 4
) -> dict[str, list[int]]:
    """Indices of the most confident cracks, the least confident cases and the errors (most wrong first).

    Each index appears in one group at most, taken in this order: errors, most confident, least confident.
    """
    if per_group < 1:
        raise ValueError(f"per_group must be >= 1, got {per_group}")
    labels = np.asarray(labels)
    probs = np.asarray(probabilities, dtype=np.float64)
    if labels.shape != probs.shape:
        raise ValueError(f"{labels.size} labels but {probs.size} probabilities")
    predicted = probs >= threshold
    known = labels >= 0
    wrong = np.flatnonzero(known & (predicted != (labels == 1)))
    errors = [int(i) for i in wrong[np.argsort(-np.abs(probs[wrong] - threshold), kind="stable")][: 2 * per_group]]
    taken = set(errors)
    most = [int(i) for i in np.argsort(-probs, kind="stable") if int(i) not in taken][:per_group]
    taken.update(most)
    order = np.argsort(np.abs(probs - threshold), kind="stable")
    least = [int(i) for i in order if int(i) not in taken][:per_group]
    return {"most_confident": most, "least_confident": least, "errors": errors}


def explain_images(
    run: Any, images: list[np.ndarray], *, method: str
) -> tuple[list[np.ndarray], list[tuple[str, ...]]]:
    """Normalised class-activation maps at each image's own size, and their flags."""
    import torch

    from crackscope.cam import explain
    from crackscope.cam.overlay import resize_map

    if not images:
        return [], []
    batch = torch.stack([run.preprocess(im) for im in images])
    expl = explain(run.model, batch, method=method)
    heats = [resize_map(np.asarray(expl.normalised[i]), im.shape[:2]) for i, im in enumerate(images)]
    return heats, [tuple(f) for f in expl.flags]


def map_cases(run: Any, cases: list[Case], *, recipe: MapRecipe, on_progress: OnProgress | None = None) -> None:
    """Fill in each case's crack mask, measurements and numbered overlay with the recipe's mapper.

    Components along the image border are left out of the mask
    (:func:`crackscope.maps.postprocess.drop_border_artefacts`), as in ``crackscope map``; the overlay is drawn
    at the size the report shows (:data:`SHOWN_MAX_SIDE`, small images enlarged to :data:`SHOWN_MIN_SIDE`).
    ``on_progress`` is told of each image (task ``"gallery"``).
    """
    from crackscope.maps.factory import make_mapper
    from crackscope.maps.measure import measure_cracks
    from crackscope.maps.postprocess import drop_border_artefacts
    from crackscope.report.render import numbered_overlay

    mapper = make_mapper(run, recipe)
    report(on_progress, "gallery", 0, len(cases))
    for i, case in enumerate(cases, 1):
        result = mapper.map_image(case.image)
        case.mask = drop_border_artefacts(np.asarray(result.mask, dtype=bool))
        case.measures = measure_cracks(case.mask)
        case.overlay = numbered_overlay(
            case.image, case.mask, min_side=SHOWN_MIN_SIDE, max_side=SHOWN_MAX_SIDE, ids=[m.id for m in case.measures]
        )
        report(on_progress, "gallery", i, len(cases))
