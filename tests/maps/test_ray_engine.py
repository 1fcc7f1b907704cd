"""The Ray engine of ``map``: the plain engine's files, reruns that skip, bad photos reported, no Ray on the
plain path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crackscope.io import read_image, write_image_atomic
from crackscope.maps.ray_engine import RayOptions


def test_the_plain_engine_never_imports_ray() -> None:
    code = "import sys, crackscope.maps.pipeline, crackscope.maps.ray_engine; print('ray' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"num_workers": 0}, "num_workers"),
        ({"num_gpus_per_worker": -1.0}, "num_gpus_per_worker"),
        ({"num_cpus_per_worker": 0.0}, "num_cpus_per_worker"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_ray_options_are_checked_when_made(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be "):
        RayOptions(**changes)  # type: ignore[arg-type]


@pytest.fixture()
def photos(synth_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    images = sorted((synth_dir / "images").glob("*.png"))[:5]
    for p in images:
        write_image_atomic(folder / p.name, read_image(p))
    big = np.tile(read_image(images[0]), (3, 4, 1))[:150, :200]  # several tiles
    write_image_atomic(folder / "big.png", big)
    return folder


def _pixels(folder: Path) -> dict[str, np.ndarray]:
    from PIL import Image

    return {f"{p.parent.name}/{p.name}": np.asarray(Image.open(p)) for p in sorted(folder.glob("*/*.png"))}


@pytest.mark.slow
def test_ray_writes_the_plain_engines_files(tiny_run: Path, photos: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray.data")
    from crackscope.maps.pipeline import map_images
    from crackscope.maps.ray_engine import map_images_ray

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    plain = map_images(tiny_run, [photos], tmp_path / "plain", mm_per_px=0.5)
    summary = map_images_ray(
        tiny_run, [photos, bad], tmp_path / "ray", mm_per_px=0.5, cluster=RayOptions(num_workers=2)
    )
    # every photo mapped, the bad one reported with its problem while the others finished
    assert summary["counts"]["mapped"] == plain["counts"]["mapped"] == 6
    assert [e["file"] for e in summary["errors"]] == [str(bad)]
    # the same files, pixel for pixel, and the same records (settings included)
    ours, theirs = _pixels(tmp_path / "ray"), _pixels(tmp_path / "plain")
    assert ours.keys() == theirs.keys() and len(ours) == 4 * 6
    for name, pixels in theirs.items():
        assert np.array_equal(ours[name], pixels), name
    for record in sorted((tmp_path / "plain" / "records").glob("*.json")):
        assert json.loads(record.read_text()) == json.loads((tmp_path / "ray" / "records" / record.name).read_text())
    assert (tmp_path / "ray" / "cracks.csv").read_text() == (tmp_path / "plain" / "cracks.csv").read_text()
    # a rerun skips the finished photos (without starting Ray), with either engine
    again = map_images_ray(tiny_run, [photos], tmp_path / "ray", mm_per_px=0.5)
    assert again["counts"]["skipped"] == 6 and again["counts"]["mapped"] == 0
    assert map_images(tiny_run, [photos], tmp_path / "ray", mm_per_px=0.5)["counts"]["skipped"] == 6
