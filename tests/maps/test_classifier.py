"""ClassifierMapper: sizes, tiling of photos larger and smaller than a tile, probability weighting, bounded buffers."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest
import torch

import crackscope.cam
from crackscope.maps import classifier as mapper_mod
from crackscope.maps.base import MapResult, Tile
from crackscope.maps.classifier import ClassifierMapper
from crackscope.maps.recipe import MapRecipe
from crackscope.maps.refine import RefineOptions


@dataclass
class FakeRun:
    image_size: int = 32
    threshold: float = 0.5
    model: object = field(default_factory=lambda: torch.nn.Sequential())  # create_cam is replaced in these tests
    name: str = "fake"
    path: str = "fake"
    precision: str = "fp32"
    config: dict = field(default_factory=dict)


def _photo(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(120, 160, (h, w, 3)).astype(np.uint8)
    img[h // 2 - 1 : h // 2 + 2, :] = 30  # a dark horizontal crack
    return img


def test_tiny_run_maps_a_photo_larger_than_the_tile(tiny_run, monkeypatch):
    made = []
    real = mapper_mod.BlendAccumulator

    def recording(h, w, t):
        made.append((h, w, t))
        return real(h, w, t)

    monkeypatch.setattr(mapper_mod, "BlendAccumulator", recording)
    calls, made_extractors = [], []
    real_create = crackscope.cam.create_cam

    def counting_create(name, model, **kw):
        extractor = real_create(name, model, **kw)
        made_extractors.append(name)

        def counting(batch, **kw2):
            calls.append(tuple(batch.shape))
            return extractor(batch, **kw2)

        return counting

    monkeypatch.setattr(crackscope.cam, "create_cam", counting_create)
    m = ClassifierMapper(tiny_run, MapRecipe(tile=32), batch_size=16)
    res = m.map_image(_photo(150, 200))
    assert isinstance(res, MapResult)
    assert res.probability.shape == (150, 200) and res.probability.dtype == np.float32
    assert res.probability.min() >= 0 and res.probability.max() <= 1
    assert res.mask.shape == (150, 200) and res.mask.dtype == bool
    assert len(res.tiles) == 48
    for t in res.tiles:
        y0, x0, y1, x1 = t.box
        assert 0 <= y0 < y1 <= 150 and 0 <= x0 < x1 <= 200 and 0 <= t.probability <= 1
    # memory bounded: one full-size accumulator, tiles explained in batches of at most 16 at the model size
    assert made == [(150, 200, 32)]
    assert sum(c[0] for c in calls) == 48 and max(c[0] for c in calls) <= 16
    assert all(c[1:] == (3, 32, 32) for c in calls)
    m.map_image(_photo(40, 40))
    assert made_extractors == ["gradcam++"]  # one extractor for all batches and photos
    m.recipe = m.recipe.with_(method="gradcam")
    m.map_image(_photo(40, 40))
    assert made_extractors == ["gradcam++", "gradcam"]  # a new one when the method changes


def test_plain_and_refined_and_larger_tile_and_small_image(tiny_run):
    plain = ClassifierMapper(tiny_run, MapRecipe(refine=False, tile=64)).map_image(_photo(90, 130))
    assert plain.probability.shape == plain.mask.shape == (90, 130) and plain.cam is None
    small = ClassifierMapper(tiny_run, MapRecipe(tile=32)).map_image(_photo(12, 20))
    assert small.probability.shape == (12, 20) and len(small.tiles) == 1
    assert small.tiles[0].box == (0, 0, 12, 20) and small.tiles[0].as_dict()["box"] == [0, 0, 12, 20]


def _fake_explain(prob_of_tile):
    """A stand-in for ``create_cam``: its extractor maps every tile to ones, with ``prob_of_tile`` as probability."""

    def explain(batch, **kw):
        n, _, s, _ = batch.shape
        probs = np.array([prob_of_tile(batch[i]) for i in range(n)])
        maps = np.ones((n, s, s), np.float32)
        return SimpleNamespace(maps=maps, normalised=maps, probabilities=probs, flags=((),) * n)

    return lambda name, model, **kw: explain


def test_crack_free_tiles_contribute_nothing(monkeypatch):
    # tiles whose pixels are dark (left half) are "cracked" with p = 1; the bright right half gets p = 0
    img = np.full((64, 160, 3), 200, np.uint8)
    img[:, :64] = 50
    monkeypatch.setattr(crackscope.cam, "create_cam", _fake_explain(lambda t: float(t.float().mean() < 100)))
    res = ClassifierMapper(FakeRun(), MapRecipe(refine=False)).map_image(img)
    assert np.allclose(res.probability[:, :40], 1.0)  # only cracked tiles cover these columns
    assert np.allclose(res.probability[:, 100:], 0.0)  # only crack-free tiles cover these
    assert res.mask[:, :40].all() and not res.mask[:, 100:].any()


def test_photo_called_crack_free_has_an_empty_mask(monkeypatch):
    monkeypatch.setattr(crackscope.cam, "create_cam", _fake_explain(lambda t: 0.2))
    res = ClassifierMapper(FakeRun(), MapRecipe()).map_image(_photo(64, 64))
    assert not res.mask.any() and res.cracked is False and res.crack_probability == pytest.approx(0.2)


def test_refinement_keeps_thin_dark_line_inside_the_region(monkeypatch):
    monkeypatch.setattr(crackscope.cam, "create_cam", _fake_explain(lambda t: 0.9))
    img = _photo(96, 96)
    res = ClassifierMapper(FakeRun(), MapRecipe()).map_image(img)
    line = np.zeros((96, 96), bool)
    line[47:50, :] = True
    assert res.mask[line].mean() > 0.9 and res.mask[~line].mean() < 0.05
    assert res.cam is not None and res.probability[line].mean() > res.probability[~line].mean()


def test_default_tile_is_the_training_patch_size():
    from crackscope.maps.classifier import default_tile

    run = FakeRun()
    assert default_tile(run) == 32
    run.config = {"data": {"patch_settings": {"patch_size": 96}}}
    assert default_tile(run) == 96


def test_bad_arguments(tiny_run):
    with pytest.raises(ValueError, match="tile must be at least 8"):
        MapRecipe(tile=4)
    with pytest.raises(ValueError, match="overlap"):
        MapRecipe(overlap=1.0)
    with pytest.raises(ValueError, match="unknown CAM method"):
        ClassifierMapper(tiny_run, MapRecipe(method="nope"))
    with pytest.raises(ValueError, match="restorer run"):
        ClassifierMapper(tiny_run, MapRecipe(route="restorer"))
    with pytest.raises(ValueError, match="HxWx3"):
        ClassifierMapper(tiny_run).map_image(np.zeros((10, 10), np.uint8))


def test_pixel_gate_lets_the_pixels_decide_on_a_photo_called_crack_free(monkeypatch):
    monkeypatch.setattr(crackscope.cam, "create_cam", _fake_explain(lambda t: 0.3))
    img = _photo(96, 96)
    line = np.zeros((96, 96), bool)
    line[47:50, :] = True
    res = ClassifierMapper(FakeRun(), MapRecipe(gate="pixels")).map_image(img)
    assert res.cracked is False and res.mask[line].mean() > 0.9 and res.mask[~line].mean() < 0.05
    floored = ClassifierMapper(FakeRun(), MapRecipe(gate="pixels", refine_options=RefineOptions(region_floor=0.5)))
    assert not floored.map_image(img).mask.any()  # the faint map (p = 0.3) passes no floor of 0.5
    with pytest.raises(ValueError, match="unknown gate"):
        MapRecipe(gate="nope")  # type: ignore[arg-type]


def test_pixel_model_replaces_the_dark_line_response(monkeypatch):
    monkeypatch.setattr(crackscope.cam, "create_cam", _fake_explain(lambda t: 0.9))

    class ColumnModel:  # "crack" = a vertical band the image does not show at all
        source = "fake-pixel-model"
        config: ClassVar[dict[str, object]] = {}

        def predict(self, image):
            p = np.zeros(image.shape[:2], np.float32)
            p[:, 10:14] = 0.9
            return p

    res = ClassifierMapper(FakeRun(), pixel_model=ColumnModel()).map_image(_photo(96, 96))
    assert res.mask[:, 10:14].all() and not res.mask[:, :10].any() and not res.mask[:, 14:].any()
    assert ClassifierMapper(FakeRun(), pixel_model=ColumnModel()).settings()["pixel_model"] == "fake-pixel-model"


def test_tiles_report_progress_only_for_big_photos(tiny_run):
    events = []
    mapper = ClassifierMapper(tiny_run, MapRecipe(tile=32, overlap=0.0))
    mapper.map_image(_photo(64, 64), name="small", on_progress=lambda *e: events.append(e))
    assert events == []  # 4 tiles: no progress worth showing
    mapper.map_image(_photo(32 * 8, 32 * 8), name="big", on_progress=lambda *e: events.append(e))
    assert events[0] == ("tiles of big", 0, 64) and events[-1] == ("tiles of big", 64, 64)
    assert [e[1] for e in events] == sorted(e[1] for e in events)


def test_tile_json_keeps_only_the_measures_that_are_set():
    assert Tile((0, 1, 2, 3), probability=0.5).as_dict() == {"box": [0, 1, 2, 3], "probability": 0.5}
    assert Tile((0, 1, 2, 3), error=0.25).as_dict() == {"box": [0, 1, 2, 3], "error": 0.25}


class _BandModel:
    """A pixel model that marks the photo's middle rows (where ``_photo`` draws its crack)."""

    source = "band"
    config: ClassVar[dict[str, object]] = {}

    def predict(self, image):
        p = np.zeros(image.shape[:2], np.float32)
        p[image.shape[0] // 2 - 1 : image.shape[0] // 2 + 2] = 0.9
        return p


def test_class_map_is_left_out_only_where_the_recipe_does_not_use_it(tiny_run):
    whole = MapRecipe(tile=32, refine_options=RefineOptions(region_level=0.0, min_size=0, half_max=None))
    img = _photo(70, 100)
    shown = ClassifierMapper(tiny_run, whole, pixel_model=_BandModel()).map_image(img)
    left_out = ClassifierMapper(tiny_run, whole, pixel_model=_BandModel(), class_map=False).map_image(img)
    assert shown.cam is not None and left_out.cam is None
    assert np.array_equal(shown.mask, left_out.mask) and np.array_equal(shown.probability, left_out.probability)
    assert left_out.tiles == shown.tiles  # the same tiles and probabilities, from the forward pass alone
    assert (left_out.cracked, left_out.crack_probability) == (shown.cracked, shown.crack_probability)
    # the class map is computed wherever the maps depend on it (a plain map is the class map itself)
    region = whole.with_(refine_options=whole.refine_options.with_(region_level=0.3))
    for recipe, pixels in ((region, _BandModel()), (whole, None), (whole.with_(refine=False), _BandModel())):
        mapper = ClassifierMapper(tiny_run, recipe, pixel_model=pixels, class_map=False)
        a, b = mapper.map_image(img), ClassifierMapper(tiny_run, recipe, pixel_model=pixels).map_image(img)
        assert mapper.needs_class_map() and np.array_equal(a.probability, b.probability)
        assert a.cam is None if recipe.refine is False else a.cam is not None and np.array_equal(a.cam, b.cam)
    with pytest.raises(ValueError, match="needs the class map"):
        ClassifierMapper(tiny_run, region, pixel_model=_BandModel()).finish(img, None, shown.tiles)
