"""The map presets shipped with crackscope (``crackscope presets`` lists them).

The settings were chosen on DeepCrack *training* photos (544x384 px; never on the photos the benchmarks
report), as ``benchmarks/results/maps.md`` tells; their sizes are in pixels of photos of that scale.
"""

from __future__ import annotations

from dataclasses import replace

from crackscope.maps.exposure import ExposureOptions
from crackscope.maps.recipe import MapRecipe, PixelStage, PseudoLabelOptions, register_preset
from crackscope.maps.refine import RefineOptions
from crackscope.maps.scale import ScaleOptions

#: refinement "v1" is ``RefineOptions()``: a coordinate search on 40 DeepCrack tune photos (the first session)
#: refinement "v2": coordinate search of 76 settings on 40 DeepCrack tune photos (exact F1 0.670 -> 0.714 there)
REFINE_V2 = RefineOptions(
    radii=(3, 6, 12),
    blur=2.0,
    contrast=80.0,
    region_level=0.15,
    region_dilation=4,
    min_response=0.3,
    min_size=120,
    max_fill=0.4,
    half_max=0.5,
    half_max_radius=5,
)
#: refinement "v3": v2 with the texture-relative dark-line response (chosen on tune + thin training photos)
REFINE_V3 = REFINE_V2.with_(contrast=10.0, relative_contrast=True)
#: mask settings of the first self-trained pixel models: v2 with a wider map region
SELFTRAIN_MASK = REFINE_V2.with_(region_dilation=8)
#: mask settings of the pixel-model ensemble: no map region, probability >= 0.4, a tighter half-max width rule
ENSEMBLE_MASK = RefineOptions(
    radii=(3, 6, 12),
    blur=1.0,
    contrast=80.0,
    region_level=0.0,
    region_dilation=0,
    min_response=0.3,
    min_size=120,
    max_fill=0.4,
    pixel_threshold=0.4,
    half_max=0.5,
    half_max_radius=3,
)

#: mask settings of the maps themselves: the ensemble's, with the half-maximum width rule at 0.6 of the local
#: maximum. Chosen with ``benchmarks/bench_width_rule.py`` on 55 DeepCrack training photos (40 tune, 15 hairline):
#: the best exact F1 among 18 settings of ``pixel_threshold`` x ``half_max`` x ``half_max_radius`` whose median
#: mean-width error is within 15 % (issue 14's goal): 0.773 -> 0.762, width error +19 % -> +9 %. The
#: pseudo-labels of self-training keep ``ENSEMBLE_MASK``.
#: Then (``bench_width_rule.py --grid ... --max-length 0.10``, the same 55 photos; the best exact F1 among 12
#: settings with median width and length errors within 15 % and 10 %): pieces are judged by size and shape before
#: the width rule trims them (``width_rule_last``; the rule had split faint cracks into pieces below ``min_size``),
#: and the trimmed specks below 20 px dropped: 0.762 -> 0.765, the 15 hairline photos 0.610 -> 0.656 (recall 0.575
#: -> 0.671, length error -24 % -> -6 %, width +26 % -> +19 %).
#: Joining faint stretches (``hysteresis`` 0.25, tenth session) helps the bundled run on a surface it was not fitted
#: on (CRACK500 0.496 -> 0.540) and costs runs on their own surface (-0.011, -0.023) and a CRACK500-fitted run on
#: DeepCrack (-0.053): not in the default (BENCHMARKS.md, "Faint stretches joined to found cracks").
MAP_MASK = ENSEMBLE_MASK.with_(half_max=0.6, width_rule_last=True, trimmed_min_size=20)
#: the photo's fine width rule, for the maps' thin cracks only (:mod:`crackscope.maps.photo_width`): the
#: unquantised dark-line depth after a 0.7 px blur at black-hat radii 3 / 6 px, half of its local maximum, for the
#: cracks whose mean width is below ``THIN_BELOW`` px, their trimmed specks below 20 px dropped. Chosen with
#: ``benchmarks/bench_thin_width.py`` on the same 55 photos (the best exact F1 among 15 settings whose median width
#: and length errors are within 15 % and 10 % in the tune and the hairline photos each), the radii then by
#: ``--radii`` (the cheapest within 0.001 of that F1): the hairline photos' width error +19 % -> +4 %, exact F1 over
#: the 55 0.7652 -> 0.7662
THIN_WIDTH = MAP_MASK.with_(half_max=0.5, half_max_blur=0.7, radii=(3, 6), min_size=MAP_MASK.trimmed_min_size)
THIN_BELOW = 4.0
#: the fraction of the mask threshold faint stretches are joined down to when a user asks for joining (the web
#: page's checkbox; ``crackscope map --join-faint`` takes any fraction): the value measured above
JOIN_FAINT = 0.25

CAM = register_preset(
    "cam",
    MapRecipe(refine=False),
    doc="the CAM studies' approach: Otsu threshold of the blended class map (coarse, wide masks)",
)
REFINED = register_preset(
    "refined",
    MapRecipe(),
    doc="class map says where, the photo's dark thin lines say which pixels (settings v1); any classifier run",
)
REFINED_V2 = register_preset(
    "refined-v2",
    MapRecipe(refine_options=REFINE_V2, gate="pixels"),
    doc="refined with a width rule and a line-shape filter (v2); sizes for photos of about 544x384 px",
)
SELFTRAINED = register_preset(
    "selftrained",
    MapRecipe(
        refine_options=MAP_MASK,
        photo_width=THIN_WIDTH,
        photo_width_below=THIN_BELOW,
        gate="pixels",
        pixel_models=("a2", "b2"),
        scale=ScaleOptions(mode="auto"),
        exposure=ExposureOptions(),  # measured by fit
        stages=(
            PixelStage(
                "a1",
                refine=REFINE_V3,
                labels=PseudoLabelOptions(outside_lines_unlabelled=True, blobs_background=True),
                mask=ENSEMBLE_MASK,
            ),
            PixelStage("a2", teacher="a1"),
            PixelStage("b1", refine=REFINE_V2, mask=SELFTRAIN_MASK),
            PixelStage("b2", teacher="b1"),
        ),
    ),
    doc="best measured: two pixel models self-trained in two rounds each on the photos' pseudo-labels, averaged; "
    "made by `crackscope fit`",
)
RESTORER_PAPER = register_preset(
    "restorer-paper",
    MapRecipe(route="restorer", refine=False),
    doc="UP-CrackNet restorer runs: restoration error, bilateral filter and Otsu threshold (the paper's)",
)
#: how a restorer's error becomes a thin mask (``restorer-thin``): the refinement with the restoration error as its
#: pixel response (16 x the photo's mean error -> 1, 0.5 px blur), the error map's region at 40 % of its maximum
#: grown by 4 px;
#: chosen by a coordinate search (``bench_restorer.py tune --set tune+hairline``: the best exact F1 among settings
#: whose median mean-width error is within 25 %) on 55 DeepCrack training photos: the 40 tune photos and 15 of the
#: hairline kind (``bench_restorer.hairline_photos``). There: F1 0.248 with the paper's Otsu -> 0.661, width error
#: +299 % -> +21 %; the earlier choice on the tune photos alone (blur 1, region level 0.2, no dilation) scored
#: 0.665 there with a width error of +47 %.
RESTORER_THIN_MASK = REFINE_V3.with_(
    blur=0.5, contrast=16.0, region_level=0.4, region_dilation=4, min_size=60, max_fill=0.4
)
#: the restorer maps photos enlarged 2x (the mask comes back at the photo's size): on the same 55 photos exact F1
#: 0.661 -> 0.677 (1.5x: 0.672), the 15 hairline photos 0.173 -> 0.316 (``bench_restorer.py upscale``). The
#: restoration's time and memory grow with the area mapped, so the enlargement stops at 8 MP (a 12 MP photo is
#: mapped as it is)
RESTORER_THIN_SCALE = ScaleOptions(factor=2.0, max_pixels=8_000_000)
#: the mask, brought back to the photo's size, keeps the pixels within half the maximum of the photo's own dark-line
#: profile (0.5 px blur, unquantised; :mod:`crackscope.maps.photo_width`): chosen by ``bench_restorer.py width`` on
#: the same 55 photos (the best exact F1 among 7 rules whose median width error is within 25 % on the tune and on
#: the hairline photos each): width error +25 % -> +3 % (hairline photos +108 % -> +9 %), exact F1 0.677 -> 0.673
RESTORER_THIN_WIDTH = MAP_MASK.with_(half_max=0.5, half_max_blur=0.5, min_size=RESTORER_THIN_MASK.min_size)
RESTORER_THIN = register_preset(
    "restorer-thin",
    MapRecipe(
        route="restorer",
        refine_options=RESTORER_THIN_MASK,
        scale=RESTORER_THIN_SCALE,
        photo_width=RESTORER_THIN_WIDTH,
    ),
    doc="UP-CrackNet restorer runs: photos enlarged 2x, the restoration error picks the pixels, the photo's own "
    "line profile how wide they are (thin cracks stay thin)",
)
#: weight of the restoration error in the class maps of ``selftrained-restorer``'s first-round pseudo-labels (its
#: unit: ``PseudoLabelOptions.restoration_contrast``, 16 x the photo's mean error), chosen with the unit among
#: 0.5/1 x 2..32 on the 40 DeepCrack tune photos (``bench_restorer.py labels``): F1 of the positive labels
#: 0.628 -> 0.705 (a1) and 0.634 -> 0.712 (b1), their recall 0.515 -> 0.658 and 0.539 -> 0.697
RESTORATION_WEIGHT = 0.5
SELFTRAINED_RESTORER = register_preset(
    "selftrained-restorer",
    SELFTRAINED.with_(
        stages=tuple(
            s if s.teacher is not None else replace(s, labels=replace(s.labels, restoration=RESTORATION_WEIGHT))
            for s in SELFTRAINED.stages
        )
    ),
    doc="selftrained, with pseudo-labels from the class maps and a UP-CrackNet restorer's error "
    "(`crackscope fit --restorer RUN`)",
)

#: the preset ``crackscope fit`` trains for when none is named
DEFAULT_FIT_PRESET = "selftrained"
#: the preset ``crackscope map`` uses for a run that records none, by run kind
DEFAULT_MAP_PRESET = {"classifier": "refined", "restorer": "restorer-thin"}
