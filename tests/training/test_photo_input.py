"""A photo as the classifier sees it when asked about it: fill around it painted over, then resized."""

from __future__ import annotations

import numpy as np
import pytest

from crackscope.io import write_image_atomic
from crackscope.maps.no_data import fill_no_data, no_data_mask
from crackscope.training.torchdata import photo_input, resize_square


def _turned_photo() -> np.ndarray:
    """A 200 px photo whose left quarter is pure black fill, as around a photo turned to level."""
    photo = np.random.default_rng(0).integers(100, 180, (200, 200, 3)).astype(np.uint8)
    photo[:, :50] = 0
    return photo


def test_fill_is_painted_before_the_photo_is_resized():
    photo = _turned_photo()
    painted = fill_no_data(photo, no_data_mask(photo))
    assert np.array_equal(photo_input(photo, 64), resize_square(painted, 64))
    assert photo_input(photo, 64)[:, :10].min() > 0  # no black left for the classifier to call a crack
    plain = np.random.default_rng(1).integers(0, 256, (90, 90, 3)).astype(np.uint8)
    assert np.array_equal(photo_input(plain, 64), resize_square(plain, 64))  # no fill: only resized


def test_predict_and_preprocess_see_the_painted_photo(tiny_run, tmp_path):
    from crackscope.training import predict
    from crackscope.training.run import load_run

    photo = _turned_photo()
    painted = fill_no_data(photo, no_data_mask(photo))
    write_image_atomic(tmp_path / "turned.png", photo)
    write_image_atomic(tmp_path / "painted.png", painted)
    rows = {
        r["filename"]: r["probability"] for r in predict(tiny_run, [tmp_path / "turned.png", tmp_path / "painted.png"])
    }
    assert rows["turned.png"] == pytest.approx(rows["painted.png"], abs=1e-6)
    run = load_run(tiny_run)
    assert np.array_equal(run.preprocess(photo).numpy(), run.preprocess(painted).numpy())
