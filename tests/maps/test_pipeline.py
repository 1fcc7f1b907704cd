"""map_images / `crackscope map`: output contract, re-runs, bad files, measurements, overlays."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from crackscope.io import read_image, read_mask, write_image_atomic
from crackscope.maps.base import MapResult, Tile
from crackscope.maps.overlay import OUTLINE_RGB, draw_overlay
from crackscope.maps.pipeline import CSV_COLUMNS, map_images
from crackscope.maps.postprocess import label_cracks
from crackscope.maps.tiling import tile_grid


@pytest.fixture()
def photos(synth_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    imgs = sorted((synth_dir / "images").glob("*.png"))[:3]
    for p in imgs:
        write_image_atomic(folder / p.name, read_image(p))
    big = np.tile(read_image(imgs[0]), (3, 4, 1))[:150, :200]  # 200x150, larger than the 32 px input
    write_image_atomic(folder / "big.jpg", big)
    return folder


def test_output_contract_and_rerun(tiny_run, photos, tmp_path):
    out = tmp_path / "out"
    summary = map_images(tiny_run, [photos], out, mm_per_px=0.5)
    assert summary["counts"]["mapped"] == 4 and summary["errors"] == []
    for src in sorted(photos.iterdir()):
        h, w = read_image(src).shape[:2]
        for d in ("masks", "probability", "skeletons", "overlays"):
            f = out / d / f"{src.stem}.png"
            assert f.is_file(), f
            arr = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(f))
            assert arr.shape[:2] == (h, w)
            if d in ("masks", "skeletons"):
                assert set(np.unique(arr)) <= {0, 255}
        assert (out / "records" / f"{src.stem}.json").is_file()
    with open(out / "cracks.csv") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
    for row in rows:
        assert float(row["length_mm"]) == pytest.approx(0.5 * float(row["length_px"]), rel=1e-3)
    disk = json.loads((out / "summary.json").read_text())
    assert {i["name"] for i in disk["images"]} == {p.stem for p in photos.iterdir()}
    big = next(i for i in disk["images"] if i["name"] == "big")
    tile = disk["manifest"]["settings"]["tile"]
    assert len(big["tiles"]) == len(tile_grid(150, 200, tile=tile, overlap=0.25)) > 1
    assert big["width"] == 200 and big["height"] == 150
    assert disk["manifest"]["command"] == "map" and disk["manifest"]["settings"]["mm_per_px"] == 0.5
    assert sum(i["n_cracks"] for i in disk["images"]) == len(rows)

    # re-run: everything is skipped and nothing is lost
    csv_before = (out / "cracks.csv").read_text()
    again = map_images(tiny_run, [photos], out, mm_per_px=0.5)
    assert again["counts"]["skipped"] == 4 and again["counts"]["mapped"] == 0
    assert (out / "cracks.csv").read_text() == csv_before
    # different settings redo the images
    redo = map_images(tiny_run, [photos / "big.jpg"], out, recipe="cam")
    assert redo["counts"]["mapped"] == 1


def test_bad_file_is_reported_and_the_rest_done(tiny_run, photos, tmp_path):
    (photos / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "out"
    summary = map_images(tiny_run, [photos], out)
    assert summary["counts"]["mapped"] == 4 and summary["counts"]["errors"] == 1
    assert "broken.png" in summary["errors"][0]["file"]
    assert json.loads((out / "summary.json").read_text())["errors"][0]["problem"]
    assert not (out / "masks" / "broken.png").exists()


class TwoCracks:
    """A stand-in mapper (a :class:`~crackscope.maps.base.Mapper`) with a known mask."""

    def settings(self):
        return {"mapper": "two-cracks"}

    def map_image(self, image, *, name=None, on_progress=None):
        h, w = image.shape[:2]
        mask = np.zeros((h, w), bool)
        mask[10:13, 5:45] = True  # 3 px wide, 40 px long
        mask[30:50, 20] = True  # 1 px wide, 20 px long
        tiles = (Tile((0, 0, h, w), probability=0.9),)
        return MapResult(mask.astype(np.float32), mask, tiles, cracked=True, crack_probability=0.9)


def test_measurements_in_csv_match_the_overlay_numbers(tiny_run, tmp_path):
    write_image_atomic(tmp_path / "in" / "wall.png", np.full((64, 64, 3), 128, np.uint8))
    out = tmp_path / "out"
    summary = map_images(tiny_run, [tmp_path / "in"], out, mm_per_px=0.2, mapper=TwoCracks())
    rows = list(csv.DictReader((out / "cracks.csv").read_text().splitlines()))
    assert [r["crack_id"] for r in rows] == ["1", "2"] and rows[0]["filename"] == "wall.png"
    assert float(rows[0]["length_px"]) == pytest.approx(40, abs=1) and float(rows[0]["max_width_px"]) == pytest.approx(
        3
    )
    assert float(rows[1]["length_mm"]) == pytest.approx(4.0, abs=0.2)
    assert summary["images"][0]["n_cracks"] == 2 and summary["images"][0]["crack_probability"] == 0.9
    mask = read_mask(out / "masks" / "wall.png")
    overlay = read_image(out / "overlays" / "wall.png")
    assert mask.sum() == 3 * 40 + 20
    assert (overlay == OUTLINE_RGB).all(axis=2).any()


class Doubting(TwoCracks):
    """The same cracks, while the classifier's tiles say crack-free (as under a colour cast); none for ``blank``."""

    def map_image(self, image, *, name=None, on_progress=None):
        result = super().map_image(image, name=name, on_progress=on_progress)
        mask = result.mask if name != "blank.png" else np.zeros_like(result.mask)
        return MapResult(mask.astype(np.float32), mask, result.tiles, cracked=False, crack_probability=0.2)


def test_a_photo_with_cracks_drawn_is_never_reported_crack_free(tiny_run, tmp_path):
    for name in ("wall.png", "blank.png"):
        write_image_atomic(tmp_path / "in" / name, np.full((64, 64, 3), 128, np.uint8))
    summary = map_images(tiny_run, [tmp_path / "in"], tmp_path / "out", mapper=Doubting())
    verdicts = {Path(i["file"]).name: (i["cracked"], i["n_cracks"], i["crack_probability"]) for i in summary["images"]}
    assert verdicts == {"wall.png": (True, 2, 0.2), "blank.png": (False, 0, 0.2)}


def test_draw_overlay_outlines_and_numbers():
    img = np.full((80, 80, 3), 100, np.uint8)
    mask = np.zeros((80, 80), bool)
    mask[20:24, 10:70] = True
    labels, n = label_cracks(mask)
    out = draw_overlay(img, mask, labels)
    assert n == 1 and out.shape == img.shape and not np.array_equal(out, img)
    assert (out[18:27, 8:72] == OUTLINE_RGB).all(axis=2).any()
    assert np.array_equal(draw_overlay(img, np.zeros_like(mask), labels * 0), img)


def test_map_cli(tiny_run, photos, tmp_path):
    from typer.testing import CliRunner

    from crackscope.cli import app

    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app,
        [
            "map",
            str(tiny_run),
            str(photos / "big.jpg"),
            "--out",
            str(out),
            "--tile",
            "48",
            "--no-refine",
            "--mm-per-px",
            "0.1",
        ],
    )
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["manifest"]["settings"]["tile"] == 48 and s["manifest"]["settings"]["refine"] is False
    bad = CliRunner().invoke(app, ["map", str(tiny_run), str(photos), "--out", str(out), "--mm-per-px", "-1"])
    assert bad.exit_code != 0


def test_map_cli_refine_options_file_and_gate(tiny_run, photos, tmp_path):
    from typer.testing import CliRunner

    from crackscope.cli import app

    settings = tmp_path / "v2.json"
    settings.write_text(json.dumps({"radii": [3, 6, 12], "contrast": 80.0, "max_fill": 0.4, "half_max": 0.5}))
    out = tmp_path / "cli-v2"
    res = CliRunner().invoke(
        app,
        [
            "map",
            str(tiny_run),
            str(photos / "big.jpg"),
            "--out",
            str(out),
            "--tile",
            "48",
            "--refine-options",
            str(settings),
            "--gate",
            "pixels",
        ],
    )
    assert res.exit_code == 0, res.output
    used = json.loads((out / "summary.json").read_text())["manifest"]["settings"]
    assert used["gate"] == "pixels"
    assert used["refine_options"]["radii"] == [3, 6, 12] and used["refine_options"]["half_max"] == 0.5

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"radius": 3}))
    res = CliRunner().invoke(
        app, ["map", str(tiny_run), str(photos / "big.jpg"), "--out", str(out), "--refine-options", str(bad)]
    )
    assert res.exit_code != 0
    assert "bad.json" in str(res.exception) + res.output and "radius" in str(res.exception) + res.output
    res = CliRunner().invoke(app, ["map", str(tiny_run), str(photos / "big.jpg"), "--out", str(out), "--gate", "x"])
    assert res.exit_code != 0


@pytest.mark.slow
def test_selftrain_cli_then_map_with_the_pixel_model(tiny_run, photos, tmp_path):
    """`crackscope selftrain` learns from unlabelled photos (a bad file is skipped, not fatal), and
    `crackscope map --pixel-model` maps with it, using the refinement settings it was trained with."""
    from typer.testing import CliRunner

    from crackscope.cli import app
    from crackscope.maps.pixel_model import load_pixel_model

    (photos / "broken.png").write_bytes(b"not a png")
    settings = tmp_path / "labels.json"
    settings.write_text(json.dumps({"min_size": 0, "region_level": 0.05, "min_response": 0.1}))
    pm = tmp_path / "pixel-model"
    res = CliRunner().invoke(
        app,
        [
            "selftrain",
            str(tiny_run),
            str(photos),
            "--out",
            str(pm),
            "--minutes",
            "0.05",
            "--refine-options",
            str(settings),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "broken.png" in res.output and "skipped" in res.output
    model = load_pixel_model(pm)
    assert model.config["photos"] == 4 and model.config["steps"] >= 1
    assert model.config["refine"]["region_level"] == 0.05  # the settings the pseudo-labels were made with
    manifest = json.loads((pm / "manifest.json").read_text())
    assert manifest["command"] == "selftrain" and len(manifest["inputs"]) == 4
    assert "broken.png" in (pm / "skipped.txt").read_text()

    (photos / "broken.png").unlink()
    out = tmp_path / "mapped"
    res = CliRunner().invoke(app, ["map", str(tiny_run), str(photos), "--out", str(out), "--pixel-model", str(pm)])
    assert res.exit_code == 0, res.output
    used = json.loads((out / "summary.json").read_text())["manifest"]["settings"]
    assert used["pixel_model"] == str(pm) and used["refine_options"]["region_level"] == 0.05
    assert len(list((out / "masks").iterdir())) == 4

    # a second model with its own mask settings and unlabelled lines outside the map; both as an ensemble
    masks = tmp_path / "masks.json"
    masks.write_text(json.dumps({"min_size": 5, "region_level": 0.0, "region_dilation": 0, "pixel_threshold": 0.4}))
    pm2 = tmp_path / "pixel-model-2"
    res = CliRunner().invoke(
        app,
        [
            "selftrain",
            str(tiny_run),
            str(photos),
            "--out",
            str(pm2),
            "--minutes",
            "0.05",
            "--refine-options",
            str(settings),
            "--mask-options",
            str(masks),
            "--outside-lines-unlabelled",
            "--blobs-background",
        ],
    )
    assert res.exit_code == 0, res.output
    config = load_pixel_model(pm2).config
    assert config["pseudo_labels"]["outside_lines_unlabelled"] and config["pseudo_labels"]["blobs_background"]
    assert config["mask"]["pixel_threshold"] == 0.4
    # a second round learns the first model's masks
    pm3 = tmp_path / "pixel-model-3"
    res = CliRunner().invoke(
        app, ["selftrain", str(tiny_run), str(photos), "--out", str(pm3), "--minutes", "0.05", "--teacher", str(pm2)]
    )
    assert res.exit_code == 0, res.output
    config = load_pixel_model(pm3).config
    assert config["teacher"] == str(pm2) and "pseudo_labels" not in config and config["steps"] >= 1
    assert config["mask"] == load_pixel_model(pm2).config["mask"]  # the teacher's mask settings are kept
    both = tmp_path / "mapped-2"
    res = CliRunner().invoke(
        app,
        ["map", str(tiny_run), str(photos), "--out", str(both), "--pixel-model", str(pm2), "--pixel-model", str(pm)],
    )
    assert res.exit_code == 0, res.output
    used = json.loads((both / "summary.json").read_text())["manifest"]["settings"]
    assert used["pixel_model"] == f"{pm2},{pm}" and used["refine_options"]["pixel_threshold"] == 0.4  # the first's
    assert len(list((both / "masks").iterdir())) == 4

    missing = CliRunner().invoke(
        app, ["map", str(tiny_run), str(photos), "--out", str(out), "--pixel-model", str(tmp_path / "nowhere")]
    )
    assert missing.exit_code != 0 and "nowhere" in str(missing.exception) + missing.output


class LineAndBorderStrip:
    """Marks an interior line and a dark strip along the top edge, as if the mapper were fooled by a frame."""

    def settings(self):
        return {"mapper": "line-and-strip"}

    def map_image(self, image, *, name=None, on_progress=None):
        h, w = image.shape[:2]
        mask = np.zeros((h, w), bool)
        mask[30:33, 10:60] = True  # a crack
        mask[0:4, 5 : w - 5] = True  # a strip along the border
        return MapResult(mask.astype(np.float32), mask, (Tile((0, 0, h, w), 0.9),), None, True, 0.9, scale=0.5)


def test_records_have_a_headline_the_scale_and_no_border_strip(tiny_run, tmp_path):
    from crackscope.maps.measure import CrackSummary, combine_summaries

    for i in range(2):
        write_image_atomic(tmp_path / "in" / f"p{i}.png", np.full((64, 80, 3), 150, np.uint8))
    out = tmp_path / "out"
    summary = map_images(tiny_run, [tmp_path / "in"], out, mm_per_px=0.1, mapper=LineAndBorderStrip())
    records = [json.loads((out / "records" / f"p{i}.json").read_text()) for i in range(2)]
    for record in records:
        assert record["n_cracks"] == 1 and record["mapped_at_scale"] == 0.5
        assert record["headline"]["n_cracks"] == 1 and record["headline"]["unit"] == "mm"
    mask = read_mask(out / "masks" / "p0.png")
    assert not mask[:4].any() and mask[30:33, 10:60].all()
    expected = combine_summaries(CrackSummary.from_dict(r["headline"]) for r in records)
    assert summary["headline"] == expected.as_dict() and summary["headline"]["n_cracks"] == 2
    assert [e["mapped_at_scale"] for e in summary["images"]] == [0.5, 0.5]


def test_probability_png_values():
    from crackscope.maps.pipeline import _to_u8

    prob = np.array([[np.nan, -0.5, 0.0, 0.5], [1 / 255, 0.999, 1.0, np.inf]], np.float32)
    assert _to_u8(prob).tolist() == [[0, 0, 0, 128], [1, 255, 255, 255]]
    assert np.isnan(prob[0, 0])  # the map itself is left as it was


def test_a_failed_image_write_leaves_the_photo_unfinished(tiny_run, tmp_path, monkeypatch):
    import crackscope.io

    write_image_atomic(tmp_path / "in" / "p0.png", np.full((64, 80, 3), 150, np.uint8))
    real = crackscope.io.write_image_atomic

    def failing(path, array):
        if Path(path).parent.name == "overlays":
            raise OSError(f"{path}: disk full")
        return real(path, array)

    monkeypatch.setattr(crackscope.io, "write_image_atomic", failing)
    out = tmp_path / "out"
    summary = map_images(tiny_run, [tmp_path / "in"], out, mapper=LineAndBorderStrip())
    assert summary["counts"]["mapped"] == 0 and "disk full" in summary["errors"][0]["problem"]
    assert not (out / "records" / "p0.json").exists()  # no record: the next run maps it again
    monkeypatch.setattr(crackscope.io, "write_image_atomic", real)
    again = map_images(tiny_run, [tmp_path / "in"], out, mapper=LineAndBorderStrip())
    assert again["counts"]["mapped"] == 1 and (out / "records" / "p0.json").is_file()
