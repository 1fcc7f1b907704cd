"""Self-training: pseudo-labels from maps, teacher labels, training a pixel model and loading it back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from crackscope.maps.pixel_model import (
    PixelEnsemble,
    PixelModel,
    load_pixel_model,
    load_pixel_models,
    refine_with_pixel_model,
)
from crackscope.maps.refine import RefineOptions
from crackscope.maps.selftrain import (
    IGNORE,
    PseudoLabelOptions,
    SelfTrainOptions,
    pseudo_labels,
    teacher_labels,
    train_pixel_model,
)


def _lines(seed=0, size=64):
    rng = np.random.default_rng(seed)
    img = rng.integers(135, 150, (size, size, 3)).astype(np.uint8)
    row = int(rng.integers(8, size - 8))
    img[row : row + 2, 4 : size - 4] = 40  # a crack the map sees
    img[:, 40:42] = 60  # a dark joint outside the map
    cam = np.zeros((size, size), np.float32)
    cam[row - 6 : row + 8, :] = 0.9
    return img, cam, row


def test_pseudo_labels_mark_crack_background_and_uncertain_pixels():
    img, cam, row = _lines()
    opts = RefineOptions(min_size=0)
    lab = pseudo_labels(img, cam, refine=opts, options=PseudoLabelOptions(outside_dilation=2, ring=1))
    assert lab.dtype == np.uint8 and set(np.unique(lab)) <= {0, 1, IGNORE}
    assert (lab[row : row + 2, 10:35] == 1).all()  # the crack
    pos = lab == 1
    ring = ndimage.binary_dilation(pos, structure=np.ones((3, 3), bool)) & ~pos
    assert ring.any() and (lab[ring] == IGNORE).all()  # a ring around the crack is left unlabelled
    assert not pos[: row - 3, :35].any() and not pos[row + 5 :, :35].any()  # the blur widens it a little, no more
    assert (lab[: row - 20, 40:42] == 0).all()  # the joint outside the map is background
    assert (lab[row + 10 :, :35] == 0).all()


def test_outside_lines_unlabelled_leaves_a_line_the_map_missed_out_of_the_background():
    img, cam, row = _lines()
    opts = PseudoLabelOptions(outside_dilation=2, ring=1, outside_lines_unlabelled=True)
    lab = pseudo_labels(img, cam, refine=RefineOptions(min_size=0), options=opts)
    default = pseudo_labels(img, cam, refine=RefineOptions(min_size=0), options=PseudoLabelOptions(outside_dilation=2))
    assert np.array_equal(lab == 1, default == 1)  # the positives do not change
    assert (lab[: row - 20, 40:42] == IGNORE).all()  # the joint the map missed: unlabelled, not background
    assert (default[: row - 20, 40:42] == 0).all()
    assert (lab[row + 10 :, :35] == 0).all()  # flat surface outside the map is still background


def test_blobs_background_teaches_that_dark_spots_are_not_cracks():
    img, cam, row = _lines()
    yy, xx = np.ogrid[:64, :64]
    spot = (yy - 20) ** 2 + (xx - 20) ** 2 <= 9  # a pore far outside the map's band (rows 40-54)
    img[spot] = 40
    refine = RefineOptions(min_size=0, max_fill=0.4)
    base = PseudoLabelOptions(outside_dilation=2, outside_lines_unlabelled=True)
    lab = pseudo_labels(img, cam, refine=refine, options=base)
    blobs = pseudo_labels(
        img,
        cam,
        refine=refine,
        options=PseudoLabelOptions(outside_dilation=2, outside_lines_unlabelled=True, blobs_background=True),
    )
    assert (lab[spot] == IGNORE).all() and (blobs[spot] == 0).all()
    assert (blobs[: row - 20, 40:42] == IGNORE).all()  # the long joint is a line, not a blob: still unlabelled
    assert np.array_equal(lab == 1, blobs == 1)


class _Fixed:
    """A stand-in pixel model with a fixed probability map."""

    def __init__(self, prob, config=None):
        self.prob, self.config, self.source = prob, config or {}, "fixed"

    def predict(self, image, **kw):
        return self.prob.copy()


def test_teacher_labels_learn_the_teachers_mask_with_exact_bands():
    prob = np.full((32, 32), 0.1, np.float32)
    prob[10:12] = 0.9  # a crack the teacher marks
    prob[14] = 0.4  # unsure: neither crack nor background
    prob[25] = 0.9  # marked, but far outside the map's region
    cam = np.zeros((32, 32), np.float32)
    cam[5:16] = 1.0
    img = np.zeros((32, 32, 3), np.uint8)
    opts = RefineOptions(min_size=0, region_level=0.5, region_dilation=0)
    lab = teacher_labels(img, cam, _Fixed(prob), options=opts, outside_dilation=2, ring=1)
    expected = np.zeros((32, 32), np.uint8)
    expected[3:18] = IGNORE  # the region grown by 2 px: background only where the teacher is sure
    expected[(prob < 0.3) & (np.arange(32)[:, None] >= 3) & (np.arange(32)[:, None] < 18)] = 0
    expected[9] = expected[12] = IGNORE  # the ring around the mask
    expected[10:12] = 1
    assert np.array_equal(lab, expected)
    # no region (level and floor 0): the teacher's probability alone decides, and its stored settings are used
    stored = _Fixed(prob, {"mask": RefineOptions(min_size=0, region_level=0.0, region_dilation=0).as_dict()})
    free = teacher_labels(img, cam, stored, ring=0)
    assert (free[25] == 1).all() and (free[10:12] == 1).all() and (free[14] == IGNORE).all()
    assert set(np.unique(free)) == {0, 1, IGNORE}


def test_training_learns_dark_lines_and_round_trips(tmp_path):
    pairs = [_lines(seed) for seed in range(6)]
    images = [p[0] for p in pairs]
    labels = [pseudo_labels(img, cam, refine=RefineOptions(min_size=0)) for img, cam, _ in pairs]
    options = SelfTrainOptions(seconds=None, steps=60, crop=32, batch_size=8, width=6, lr=1e-2, seed=0)
    model = train_pixel_model(images, labels, out=tmp_path / "pm", options=options)
    img, cam, row = _lines(99)
    prob = model.predict(img)
    assert prob[row : row + 2, 8:30].mean() > 0.5 and prob[row + 12 :, :30].mean() < 0.3
    loaded = load_pixel_model(tmp_path / "pm")
    assert np.allclose(loaded.predict(img), prob, atol=1e-5) and loaded.config["steps"] == 60
    assert isinstance(load_pixel_models([tmp_path / "pm"]), PixelModel)
    pair = load_pixel_models([tmp_path / "pm", tmp_path / "pm"])
    assert isinstance(pair, PixelEnsemble) and np.allclose(pair.predict(img), prob, atol=1e-5)
    soft, mask = refine_with_pixel_model(img, cam, loaded, options=RefineOptions(min_size=0))
    outside = np.abs(np.arange(64) - row) > 13  # rows beyond the map's band and its dilation
    assert not mask[outside].any()  # outside the map's region nothing is marked
    assert mask[row : row + 2, 8:30].mean() > 0.5 and soft.shape == mask.shape == (64, 64)
    with pytest.raises(ValueError):
        train_pixel_model(images, labels[:2])


def test_self_train_options_refuse_what_cannot_train():
    with pytest.raises(ValueError, match="set seconds, steps or both"):
        SelfTrainOptions(seconds=None)
    with pytest.raises(ValueError, match="crop must be a multiple of 8"):
        SelfTrainOptions(crop=20)
    with pytest.raises(ValueError, match="positive_crops"):
        SelfTrainOptions(positive_crops=1.5)
    with pytest.raises(ValueError, match="precision"):
        SelfTrainOptions(precision="fp16")


def test_training_in_bf16_learns_dark_lines_and_records_its_precision():
    pairs = [_lines(seed) for seed in range(6)]
    images = [p[0] for p in pairs]
    labels = [pseudo_labels(img, cam, refine=RefineOptions(min_size=0)) for img, cam, _ in pairs]
    options = SelfTrainOptions(
        seconds=None, steps=60, crop=32, batch_size=8, width=6, lr=1e-2, seed=0, device="cpu", precision="bf16"
    )
    model = train_pixel_model(images, labels, options=options)
    assert model.config["precision"] == "bf16"
    img, _, row = _lines(99)
    prob = model.predict(img)
    assert prob[row : row + 2, 8:30].mean() > 0.5 and prob[row + 12 :, :30].mean() < 0.3
    plain = train_pixel_model(images, labels, options=SelfTrainOptions(seconds=None, steps=2, crop=32, width=6))
    assert plain.config["precision"] == "fp32"


def test_stages_carry_their_training_precision_through_recipes():
    from dataclasses import replace

    from crackscope.maps.recipe import MapRecipe, PixelStage, get_preset

    with pytest.raises(ValueError, match="precision"):
        PixelStage("a1", precision="half")
    base = get_preset("selftrained")
    candidate = base.with_(stages=tuple(replace(stage, precision="auto") for stage in base.stages))
    assert MapRecipe.from_dict(candidate.to_dict()) == candidate
    assert {stage.precision for stage in get_preset("selftrained").stages} == {"fp32"}


def test_pixel_crops_are_seeded_per_worker_and_fed_by_workers():
    import torch

    from crackscope.maps.crop_feed import PixelCrops, crop_loader

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40, 48, 3)).astype(np.uint8) for _ in range(3)]
    labels = [np.zeros((40, 48), np.uint8) for _ in range(3)]
    labels[1][20, 10:30] = 1
    crops = PixelCrops(images, labels, crop=16, batch_size=4, positive_crops=0.5, seed=7)
    first = [next(iter(crops)) for _ in range(2)]
    assert first[0][0].shape == (4, 3, 16, 16) and first[0][1].shape == (4, 1, 16, 16)
    assert torch.equal(first[0][0], first[1][0])  # the main process's stream starts from the seed each time
    main = iter(crop_loader(crops, num_workers=0, pin_memory=False))
    assert torch.equal(next(main)[0], first[0][0])
    two = iter(crop_loader(crops, num_workers=2, pin_memory=False))
    a, b = next(two), next(two)  # one batch from each worker, each from its own seed
    assert a[0].shape == (4, 3, 16, 16) and not torch.equal(a[0], b[0])
    assert not torch.equal(a[0], first[0][0])


def test_pixel_crops_with_an_augmentation_keep_labels_on_the_crack():
    from dataclasses import replace

    import torch

    from crackscope.data.augment import RobustAugment
    from crackscope.maps.crop_feed import PixelCrops

    images = [np.full((64, 64, 3), 180, np.uint8)]
    labels = [np.zeros((64, 64), np.uint8)]
    images[0][30:34, :] = 40
    labels[0][30:34, :] = 1
    labels[0][:4, :] = 255
    plain = PixelCrops(images, labels, crop=32, batch_size=8, positive_crops=1.0, seed=1)
    no_photometry = replace(RobustAugment(), gamma=0, brightness=0, contrast=0, colour_cast=0, jpeg_probability=0)
    no_photometry = replace(no_photometry, blur_probability=0, noise_probability=0)
    for augment in (RobustAugment(), no_photometry):
        crops = PixelCrops(images, labels, crop=32, batch_size=8, positive_crops=1.0, seed=1, augment=augment)
        x, y = next(iter(crops))
        assert x.dtype == torch.float32 and x.shape == (8, 3, 32, 32) and y.shape == (8, 1, 32, 32)
        assert set(np.unique(y.numpy()).tolist()) <= {0, 1, 255}
        grey, lab = x.numpy().mean(axis=1), y.numpy()[:, 0]
        assert (lab == 1).any() and grey[lab == 1].mean() < grey[lab == 0].mean() - 40
        assert not torch.equal(x, next(iter(plain))[0])
    crops = PixelCrops(images, labels, crop=32, batch_size=8, positive_crops=1.0, seed=1, augment=no_photometry)
    x, y = next(iter(crops))
    grey, lab = x.numpy().mean(axis=1), y.numpy()[:, 0]
    # geometry only: crack labels sit on dark pixels, background labels on light ones (edges aside)
    assert (grey[lab == 1] < 110).mean() > 0.9 and (grey[lab == 0] > 110).mean() > 0.9


def test_pixel_model_training_with_crop_workers(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(100, 160, (48, 48, 3)).astype(np.uint8) for _ in range(2)]
    labels = [np.zeros((48, 48), np.uint8) for _ in range(2)]
    for img, lab in zip(images, labels, strict=True):
        img[24:26, 4:44] = 30
        lab[24:26, 4:44] = 1
    opts = SelfTrainOptions(seconds=None, steps=3, crop=16, batch_size=2, width=4, num_workers=1, device="cpu")
    model = train_pixel_model(images, labels, options=opts)
    assert model.config["steps"] == 3 and model.config["device"]["device"] == "cpu"
    with pytest.raises(ValueError, match="num_workers"):
        SelfTrainOptions(num_workers=-1)


def test_training_progress_finishes_its_task_once(tmp_path):
    from crackscope.maps.recipe import PixelStage
    from crackscope.maps.selftrain import ClassMaps, train_on_labels

    rng = np.random.default_rng(0)
    images = tuple(rng.integers(100, 160, (32, 32, 3)).astype(np.uint8) for _ in range(2))
    labels = [np.zeros((32, 32), np.uint8) for _ in range(2)]
    maps = ClassMaps(images, tuple(np.ones((32, 32), np.float16) for _ in images), ("a", "b"), ())
    calls = []
    opts = SelfTrainOptions(seconds=None, steps=5, crop=16, batch_size=2, width=4, device="cpu")
    train_on_labels(maps, labels, PixelStage("s"), tmp_path / "s", options=opts, on_progress=lambda *a: calls.append(a))
    finished = [c for c in calls if c[1] == c[2]]
    assert finished == [("training s", 5, 5)]
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)  # it only counts up


def test_class_maps_prepare_each_photo_as_asked_and_join(tmp_path):
    from crackscope.io import write_image_atomic as write_image
    from crackscope.maps.scale import resample
    from crackscope.maps.selftrain import ClassMaps, class_maps

    class WholeMap:  # a stand-in mapper: the class map of a photo is its darkness
        def cam_map(self, image, *, name=None):  # type: ignore[no-untyped-def]
            return 1 - image[..., 0].astype(np.float32) / 255, ()

    paths = []
    for i in range(2):
        photo = np.full((80, 120, 3), 200, np.uint8)
        photo[40:42] = 30
        write_image(tmp_path / f"p{i}.png", photo)
        paths.append(tmp_path / f"p{i}.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    as_they_are = class_maps(WholeMap(), paths)
    halved = class_maps(WholeMap(), [*paths, tmp_path / "broken.png"], prepare=lambda im: resample(im, 0.5))
    assert [im.shape for im in as_they_are.images] == [(80, 120, 3)] * 2
    assert [im.shape for im in halved.images] == [(40, 60, 3)] * 2 and [c.shape for c in halved.cams] == [(40, 60)] * 2
    assert [Path(p).name for p, _ in halved.skipped] == ["broken.png"]
    both = as_they_are + halved
    assert len(both.images) == len(both.cams) == len(both.used) == 4 and both.skipped == halved.skipped
    assert both.errors is None
    with_errors = ClassMaps(halved.images, halved.cams, halved.used, (), tuple(c for c in halved.cams))
    with pytest.raises(ValueError, match="with and without restoration errors"):
        as_they_are + with_errors


def test_a_teacher_that_marks_nothing_is_named_with_what_to_do():
    from crackscope.errors import BadInputError
    from crackscope.maps.recipe import PixelStage
    from crackscope.maps.selftrain import ClassMaps, stage_labels

    class Blind:  # a teacher that learned no crack
        def __init__(self) -> None:
            self.config: dict[str, object] = {}
            self.source = None

        def predict(self, image):  # type: ignore[no-untyped-def]
            return np.zeros(image.shape[:2], np.float32)

    image = np.full((64, 64, 3), 180, np.uint8)
    maps = ClassMaps((image,), (np.ones((64, 64), np.float16),), ("photos/a.png",), ())
    with pytest.raises(BadInputError, match=r"teacher 'a1' marks no crack.*more --minutes") as info:
        stage_labels(maps, PixelStage("a2", teacher="a1"), teacher=Blind())
    assert info.value.path == Path("photos")
