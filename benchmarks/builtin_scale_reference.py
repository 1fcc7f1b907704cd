"""The bundled run's scale and exposure references, measured as ``crackscope fit`` measures them on its photos.

    .venv/bin/python benchmarks/builtin_scale_reference.py [--data ../shared/datasets/deepcrack-train] [--write]

The bundled run was fitted (``bench_fit.py --builtin``) on all but the last 60 DeepCrack photos in name order, before
``fit`` recorded a scale reference. This measures that reference (:func:`crackscope.maps.fit.scale_reference`: the
median texture period and the 90th percentile line width of a seeded sample of at most 100 of those photos) and
the exposure range of the same photos (:func:`crackscope.maps.fit.exposure_reference`, added in the seventh
session), prints them; ``--write`` stores them in ``crackscope/builtin/map_recipe.json``. No mask is read and no
score is used.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEEPCRACK = ROOT.parent / "shared" / "datasets" / "deepcrack-train"


def main() -> None:
    from crackscope.maps.exposure import ExposureOptions
    from crackscope.maps.fit import FitOptions, exposure_reference, scale_reference
    from crackscope.maps.recipe import read_run_recipe

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEEPCRACK)
    ap.add_argument("--held-out", type=int, default=60)
    ap.add_argument("--write", action="store_true", help="store the reference in the bundled run's recipe")
    args = ap.parse_args()
    run = ROOT / "crackscope" / "builtin"
    recipe = read_run_recipe(run)
    if recipe is None:
        raise SystemExit(f"{run} has no map recipe")
    photos = sorted((args.data / "images").glob("*.jpg"))[: -args.held_out]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "images").mkdir()
        (data / "masks").mkdir()
        for p in photos:  # the fit's image + mask layout (masks only make the layout; they are not read here)
            (data / "images" / p.name).symlink_to(p.resolve())
            (data / "masks" / f"{p.stem}.png").symlink_to((args.data / "masks" / f"{p.stem}.png").resolve())
        reference = scale_reference(data, recipe.scale.with_(texture_period=None), options=FitOptions(seed=0))
        exposure = exposure_reference(data, ExposureOptions(), options=FitOptions(seed=0))
    print(json.dumps({"photos": len(photos), "scale": reference.as_dict(), "exposure": exposure.as_dict()}))
    if args.write:
        recipe.with_(scale=reference, exposure=exposure).save(run)
        print(f"wrote the references into {run / 'map_recipe.json'}")


if __name__ == "__main__":
    main()
