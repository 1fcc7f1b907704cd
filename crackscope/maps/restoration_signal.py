"""A restorer's error as a second weak signal for the CAM route's pseudo-labels.

The classifier's class map says where a photo looks cracked; a UP-CrackNet restorer, trained on crack-free
surface only, cannot restore what is not surface, so its restoration error marks crack pixels by another,
independent route (it never saw a crack label either). Faint cracks the class map misses can stand out there.

:func:`restoration_error` is how much darker a photo is than its restoration; :func:`restoration_evidence`
puts it in [0, 1] on a texture-relative scale (like the refinement's ``relative_contrast``: ``contrast`` times
the map's mean error -> 1, so a photo of rough asphalt and one of smooth concrete are comparable);
:func:`fuse_class_map` lets it extend the class map the pseudo-labels are made from
(:func:`crackscope.maps.selftrain.pseudo_labels`): where the error is strong the refinement's region reaches, and
the photo's dark thin lines still pick the pixels. The weight and the unit are the stage's
:attr:`~crackscope.maps.recipe.PseudoLabelOptions.restoration` (0: off, the class map alone) and
``restoration_contrast``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from crackscope.maps.refine import RefineOptions
from crackscope.progress import OnProgress, report

if TYPE_CHECKING:
    from crackscope.unsupervised.run import RestorerRun


def restoration_error(image: np.ndarray, restored: np.ndarray, *, blur: float = 1.0) -> np.ndarray:
    """How much darker the photo is than its restoration, in grey levels (float32 HxW, >= 0).

    Parameters
    ----------
    image, restored : numpy.ndarray
        The photo and its restoration, HxWx3 uint8 RGB of one size.
    blur : float
        Sigma (px) of a Gaussian blur of the difference (0: none).

    Returns
    -------
    numpy.ndarray
        ``blur(max(gray(restored) - gray(photo), 0))``: only darker-than-restored pixels count (cracks are dark).

    Raises
    ------
    ValueError
        If the images differ in shape.

    Examples
    --------
    >>> photo = np.full((4, 4, 3), 200, np.uint8); photo[:, 2] = 100
    >>> restoration_error(photo, np.full((4, 4, 3), 200, np.uint8), blur=0)[0].tolist()
    [0.0, 0.0, 100.0, 0.0]
    """
    if image.shape != restored.shape:
        raise ValueError(f"photo {image.shape} and restoration {restored.shape} differ in shape")
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray_restored = cv2.cvtColor(np.ascontiguousarray(restored), cv2.COLOR_RGB2GRAY).astype(np.float32)
    darker = np.maximum(gray_restored - gray, 0.0)
    if blur > 0:
        darker = cv2.GaussianBlur(darker, (0, 0), blur)
    return np.asarray(darker, np.float32)


def restoration_evidence(error: np.ndarray, *, contrast: float = 16.0) -> np.ndarray:
    """A :func:`restoration_error` map on a texture-relative scale: ``contrast`` times its mean (at least one
    grey level) -> 1, clipped to [0, 1] (float32).

    Raises
    ------
    ValueError
        If ``contrast`` is not positive.

    Examples
    --------
    >>> restoration_evidence(np.array([[0.0, 1.0, 2.0, 5.0]]), contrast=2.0).tolist()
    [[0.0, 0.25, 0.5, 1.0]]
    """
    if not contrast > 0:
        raise ValueError(f"contrast must be positive, got {contrast}")
    error = np.asarray(error, np.float32)
    unit = contrast * max(float(error.mean()), 1.0)
    return np.clip(error / unit, 0.0, 1.0).astype(np.float32)


def restoration_response(error: np.ndarray, *, options: RefineOptions) -> np.ndarray:
    """A :func:`restoration_error` map as the pixel response of :func:`~crackscope.maps.refine.refine_map` on the
    restorer route: ``options.contrast`` times the map's mean (``relative_contrast``, as
    :func:`restoration_evidence`) or ``options.contrast`` grey levels -> 1, clipped to [0, 1] (float32).

    Raises
    ------
    ValueError
        If ``options.contrast`` is not positive.
    """
    if options.relative_contrast:
        return restoration_evidence(error, contrast=options.contrast)
    if not options.contrast > 0:
        raise ValueError(f"contrast must be positive, got {options.contrast}")
    scaled = np.clip(np.asarray(error, np.float32) / np.float32(options.contrast), 0.0, 1.0)
    return np.asarray(scaled, np.float32)


def fuse_class_map(cam: np.ndarray, evidence: np.ndarray, *, weight: float) -> np.ndarray:
    """The class map extended by the restoration evidence: ``max(cam, weight * evidence)``, float32.

    Raises
    ------
    ValueError
        If the maps differ in shape or ``weight`` is negative.

    Examples
    --------
    >>> fuse_class_map(np.array([[0.2, 0.9]]), np.array([[1.0, 0.0]]), weight=0.5).tolist()
    [[0.5, 0.8999999761581421]]
    """
    if cam.shape != evidence.shape:
        raise ValueError(f"class map {cam.shape} and evidence {evidence.shape} differ in shape")
    if weight < 0:
        raise ValueError(f"weight must not be negative, got {weight}")
    fused = np.maximum(np.asarray(cam, np.float32), np.float32(weight) * np.asarray(evidence, np.float32))
    return np.asarray(fused, np.float32)


def restoration_errors(
    run: RestorerRun,
    images: Sequence[np.ndarray],
    *,
    batch_size: int = 32,
    on_progress: OnProgress | None = None,
) -> tuple[np.ndarray, ...]:
    """:func:`restoration_error` of each photo restored by ``run`` (float16, to halve the memory)."""
    out = []
    report(on_progress, "restoration error", 0, len(images))
    for i, image in enumerate(images, 1):
        restored = run.restore(image, batch_size=batch_size)
        out.append(restoration_error(image, restored).astype(np.float16))
        report(on_progress, "restoration error", i, len(images))
    return tuple(out)
