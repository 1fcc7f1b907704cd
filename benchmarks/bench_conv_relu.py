"""The pixel networks' convolutions with their ReLUs as one oneDNN call, against the two steps.

    LD_PRELOAD=<tcmalloc> .venv/bin/python benchmarks/bench_conv_relu.py [--repeat 7]

Side by side, interleaved, medians (s): ``PixelModel.predict`` of a 2100 x 1500 photo (random pixels, a width-12
network with random weights and batch-norm statistics) with ``crackscope.models.speed.fuse_conv_relu`` (the
default) and without it (each convolution, then its ReLU); whether the two predictions are equal. A JSON line goes
to ``benchmarks/results/conv_relu.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import append_result  # noqa: E402
from context import load_1min, run_context  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    import torch

    import crackscope.maps.pixel_model as pixel_model
    from tests.models.helpers import randomize_batch_norms

    context = run_context()
    torch.manual_seed(0)
    net = pixel_model.make_pixel_net(12)
    randomize_batch_norms(net)
    photo = (np.random.default_rng(0).random((1500, 2100, 3)) * 255).astype(np.uint8)
    models = {"fused": pixel_model.PixelModel(net, {}), "two steps": pixel_model.PixelModel(net, {})}

    # each model makes its inference copy on its first call and keeps it: "two steps" makes it without the fusion
    with mock.patch.object(pixel_model, "fuse_conv_relu", lambda n: n):
        outputs = {"two steps": models["two steps"].predict(photo)}
    outputs["fused"] = models["fused"].predict(photo)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeat):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict(photo)
            times[name].append(time.perf_counter() - start)
    medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
    record = {
        **context,
        "command": " ".join(sys.argv),
        "predict_s_median": medians,
        "predict_s_all": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "speed_up": round(medians["two steps"] / medians["fused"], 2),
        "equal_predictions": bool(np.array_equal(outputs["fused"], outputs["two steps"])),
        "load_1min_after": load_1min(),
    }
    append_result("conv_relu.jsonl", record)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
