"""Where a 13 MP photo's mapping time goes, and the two speed-ups weighed for it (a diagnostic for issue 14).

    .venv/bin/python benchmarks/bench_mosaic_parts.py [--run builtin]

On the mosaic of ``make_mosaic.py`` (made in a temporary folder), in one process with the run's mapper
(``make_mapper``): seconds of reading the photo, of the class-map pass (``cam_map``) against the classifier's forward
pass alone (``tile_probabilities``), of the pixel models with crops of 1024 px (the product's), 1536 px and 2048 px
(a 64 px margin each; the ensemble's mean probability, as ``MeanPrediction``; its largest difference to the
1024 px crops and the peak RSS after each), and
how close the classifier's bf16 probabilities on 512 of the mosaic's tiles come to float32 with and without its
batch norms folded (``fold_batch_norms``). Each timing is the median of ``--repeat`` runs. Nothing is chosen here;
a JSON line with date, commit, machine and load goes to ``benchmarks/results/mosaic_parts.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "mosaic_parts.jsonl"


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(median seconds, the last result) of ``repeat`` calls."""
    seconds, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - started)
    return round(statistics.median(seconds), 3), out


def main() -> None:
    import torch

    from crackscope.io import read_image
    from crackscope.maps.factory import make_mapper
    from crackscope.maps.tiling import pad_to_tile, tile_grid
    from crackscope.models.speed import fold_batch_norms

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="builtin")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    context = run_context()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_mosaic.py"), tmp], check=True)
        read_s, image = timed(lambda: read_image(Path(tmp) / "in" / "mosaic.png"), args.repeat)
    mapper: Any = make_mapper(args.run, None, device="cpu")
    inner = getattr(mapper, "inner", mapper)  # the classifier mapper inside the scale rule
    cam_s, _ = timed(lambda: inner.cam_map(image), args.repeat)
    forward_s, _ = timed(lambda: inner.tile_probabilities(image), args.repeat)
    models = inner.pixel_model.models
    crops, reference = {}, None
    for tile in (1024, 1536, 2048):
        seconds, prob = timed(
            lambda t=tile: sum(m.predict(image, tile=t, margin=64) for m in models) / len(models), args.repeat
        )
        reference = prob if reference is None else reference
        crops[str(tile)] = {
            "seconds": seconds,
            "max_difference_to_1024": round(float(np.abs(prob - reference).max()), 4),
            "peak_rss_gb_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3),
        }
    padded = pad_to_tile(image, inner.tile)
    starts = tile_grid(*padded.shape[:2], tile=inner.tile, overlap=inner.recipe.overlap)[::5][:512]
    x = inner._tile_tensor(padded, starts)
    model = inner.run.model.eval()
    with torch.inference_mode():
        fp32 = torch.sigmoid(model(x).float())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            arms = {
                "unfolded": torch.sigmoid(model(x).float()),
                "folded": torch.sigmoid(fold_batch_norms(model)(x).float()),
            }
    bf16 = {
        name: {
            "max_difference": round(float((p - fp32).abs().max()), 4),
            "mean_difference": round(float((p - fp32).abs().mean()), 5),
            "decisions_changed_at_0.5": int(((p >= 0.5) != (fp32 >= 0.5)).sum()),
        }
        for name, p in arms.items()
    }
    record = {
        **context,
        "command": " ".join(sys.argv),
        "run": args.run,
        "repeat": args.repeat,
        "read_s": read_s,
        "cam_map_s": cam_s,
        "tile_probabilities_s": forward_s,
        "pixel_models": crops,
        "bf16_against_float32_on_512_tiles": bf16,
        "load_1min_after": load_1min(),
    }
    print(json.dumps(record, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
