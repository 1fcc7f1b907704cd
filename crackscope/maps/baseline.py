"""A learning-free baseline: multi-scale black-hat of the grayscale photo, thresholded with Otsu.

No model and no mask: it marks every thin dark structure, cracks and also joints, stains and shadows. It is
the yardstick the classifier maps must beat.
"""

from __future__ import annotations

import numpy as np

from crackscope.maps.postprocess import remove_small, threshold_map
from crackscope.maps.refine import dark_line_response


def blackhat_otsu(
    image: np.ndarray,
    *,
    radii: tuple[int, ...] = (3, 6, 12),
    blur: float = 1.5,
    contrast: float = 40.0,
    min_size: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """``(response float32 HxW in [0, 1], mask bool HxW)``: black-hat response and its Otsu mask."""
    response = dark_line_response(image, radii=radii, blur=blur, contrast=contrast)
    mask = threshold_map(response, method="otsu")
    if min_size:
        mask = remove_small(mask, min_size=min_size)
    return response, mask
