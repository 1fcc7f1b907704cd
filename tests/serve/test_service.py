"""The model work behind the API with a stand-in mapper: border artefacts, the restorer's verdict, the map cache
and joined faint stretches."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import pytest

from crackscope.maps.base import MapResult
from crackscope.progress import OnProgress


class DarkLineMapper:
    """Marks thin dark structures with the learning-free baseline (black-hat + Otsu): edge strips included."""

    calls = 0

    def settings(self) -> Mapping[str, object]:
        return {"mapper": "dark-lines"}

    def map_image(
        self, image: np.ndarray, *, name: str | None = None, on_progress: OnProgress | None = None
    ) -> MapResult:
        from crackscope.maps.baseline import blackhat_otsu

        DarkLineMapper.calls += 1
        response, mask = blackhat_otsu(image)
        return MapResult(response, mask, cracked=bool(mask.any()), crack_probability=0.9)


def bordered_photo() -> np.ndarray:
    """A 256 px synthetic concrete photo with one crack inside, a 100x6 px dark strip on the top edge and a
    dark frame on the other three sides."""
    from crackscope.data.synth import generate_pair

    image, _ = generate_pair(np.random.default_rng(0), 256, cracked=False)
    image = image.copy()
    cv2.line(image, (60, 200), (190, 70), (35, 35, 35), 3)
    image[0:6, 80:180] = 30
    image[:, :3] = image[:, -3:] = image[-3:, :] = 25
    return image


@pytest.fixture
def analyzer(eager_run: Path):
    from crackscope.serve.service import Analyzer

    analyzer = Analyzer(eager_run)
    analyzer._mappers[(analyzer.default_method, False, False)] = DarkLineMapper()
    return analyzer


def test_border_strip_and_frame_are_not_listed_as_cracks(analyzer) -> None:
    from crackscope.maps.baseline import blackhat_otsu
    from crackscope.maps.measure import measure_cracks

    photo = bordered_photo()
    raw = measure_cracks(blackhat_otsu(photo)[1])
    assert any(m.bbox[0] == 0 and m.bbox[2] <= 8 for m in raw)  # the detector does mark the strip
    assert any(m.bbox == (0, 0, 256, 256) for m in raw)  # and the frame

    out = analyzer.map(photo, name="wall.png")
    assert out["border_artefacts"] == 2
    boxes = [tuple(m["bbox"]) for m in out["measurements"]]
    assert all(y0 >= 8 and x0 >= 3 and y1 <= 253 and x1 <= 253 for y0, x0, y1, x1 in boxes), boxes
    longest = max(out["measurements"], key=lambda m: m["length_px"])
    assert longest["length_px"] > 150  # the crack inside: 130 px right and 130 px up, about 184 px long
    y0, x0, y1, x1 = longest["bbox"]
    assert 60 <= y0 <= 75 and 50 <= x0 <= 65 and 195 <= y1 <= 210 and 185 <= x1 <= 200
    assert out["n_cracks"] == len(out["measurements"]) == out["headline"]["n_cracks"]


def test_a_restorer_verdict_follows_the_cleaned_mask(analyzer) -> None:
    class EdgeOnly(DarkLineMapper):
        def map_image(self, image, *, name=None, on_progress=None):  # type: ignore[no-untyped-def]
            mask = np.zeros(image.shape[:2], bool)
            mask[:6, 20:120] = True
            return MapResult(mask.astype(np.float32), mask, cracked=True)

    analyzer.kind = "restorer"
    analyzer._mappers[("restorer", False, False)] = EdgeOnly()
    out = analyzer.map(bordered_photo(), method="restorer")
    assert out["label"] == "uncracked" and out["n_cracks"] == 0 and out["border_artefacts"] == 1
    assert out["cam_overlay"] is None and out["probability_overlay"].startswith("data:image/png")


def test_the_cache_keeps_the_last_maps(analyzer) -> None:
    from crackscope.serve.service import CACHED_MAPS

    DarkLineMapper.calls = 0
    photos = [bordered_photo()[: 200 + i] for i in range(CACHED_MAPS + 1)]
    for photo in photos:
        analyzer.map(photo)
    analyzer.map(photos[-1], mm_per_px=0.1)  # the newest is kept
    assert DarkLineMapper.calls == CACHED_MAPS + 1
    analyzer.map(photos[0])  # the oldest was dropped
    assert DarkLineMapper.calls == CACHED_MAPS + 2


def test_joined_and_plain_maps_are_cached_apart(analyzer) -> None:
    analyzer._mappers[(analyzer.default_method, False, True)] = DarkLineMapper()
    DarkLineMapper.calls = 0
    photo = bordered_photo()
    assert analyzer.map(photo)["join_faint"] is False
    assert analyzer.map(photo, join_faint=True)["join_faint"] is True  # not the plain map from the cache
    assert DarkLineMapper.calls == 2
    assert analyzer.map(photo, mm_per_px=0.1)["join_faint"] is False
    assert analyzer.map(photo, mm_per_px=0.1, join_faint=True)["join_faint"] is True
    assert DarkLineMapper.calls == 2  # each kept under its own key


def test_join_faint_maps_with_the_measured_hysteresis(analyzer, monkeypatch: pytest.MonkeyPatch) -> None:
    from crackscope.maps import factory
    from crackscope.maps.recipe import MapRecipe
    from crackscope.serve.service import JOIN_FAINT

    recipes: list[MapRecipe] = []

    def make_mapper(run: object, recipe: MapRecipe) -> DarkLineMapper:
        recipes.append(recipe)
        return DarkLineMapper()

    monkeypatch.setattr(factory, "make_mapper", make_mapper)
    analyzer._mappers.clear()
    analyzer._mapper(analyzer.default_method)
    analyzer._mapper(analyzer.default_method, join_faint=True)
    analyzer._mapper(analyzer.default_method, join_faint=True)  # made once
    assert JOIN_FAINT == 0.25  # the fraction `crackscope map --join-faint` was measured at
    assert [r.refine_options.hysteresis for r in recipes] == [analyzer.recipe.refine_options.hysteresis, JOIN_FAINT]
