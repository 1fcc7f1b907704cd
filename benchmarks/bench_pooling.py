"""The pixel networks' 2x2 max pooling: torch's kernel against the maximum of four strided views.

    LD_PRELOAD=<tcmalloc> .venv/bin/python benchmarks/bench_pooling.py [--repeat 7]

Side by side, interleaved, medians (ms / s): one pooling of a 2 x 12 x 1152 x 1152 bf16 channels_last tensor (the
first pooling of a pixel network on two 1024 px tiles with their margins), ``F.max_pool2d`` against
``crackscope.maps.pixel_model.halve_by_max``; then ``PixelModel.predict`` of a 2100 x 1500 photo (random pixels, a
width-12 network with random weights) with each, and whether the two predictions are equal. A JSON line goes to
``benchmarks/results/pooling.jsonl``.
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

from context import load_1min, run_context  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "pooling.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    import torch
    from torch.nn import functional as F

    import crackscope.maps.pixel_model as pixel_model

    context = run_context()
    torch.manual_seed(0)
    x = torch.rand(2, 12, 1152, 1152).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    net = pixel_model.make_pixel_net(12).eval()
    photo = (np.random.default_rng(0).random((1500, 2100, 3)) * 255).astype(np.uint8)
    model = pixel_model.PixelModel(net, {})

    def torch_pooling(t: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(t, 2)

    def timed(f: object) -> float:
        start = time.perf_counter()
        f()  # type: ignore[operator]
        return time.perf_counter() - start

    pool = {"torch": [], "strided": []}  # type: dict[str, list[float]]
    predict = {"torch": [], "strided": []}  # type: dict[str, list[float]]
    with torch.no_grad():
        equal_pool = bool(torch.equal(pixel_model.halve_by_max(x), torch_pooling(x)))
    fast = model.predict(photo)
    with mock.patch.object(pixel_model, "halve_by_max", torch_pooling):
        slow = model.predict(photo)
    for _ in range(args.repeat):
        with torch.no_grad():
            pool["torch"].append(timed(lambda: torch_pooling(x)))
            pool["strided"].append(timed(lambda: pixel_model.halve_by_max(x)))
        with mock.patch.object(pixel_model, "halve_by_max", torch_pooling):
            predict["torch"].append(timed(lambda: model.predict(photo)))
        predict["strided"].append(timed(lambda: model.predict(photo)))
    record = {
        **context,
        "command": " ".join(sys.argv),
        "pool_ms_median": {k: round(1000 * statistics.median(v), 1) for k, v in pool.items()},
        "predict_s_median": {k: round(statistics.median(v), 3) for k, v in predict.items()},
        "predict_s_all": {k: [round(t, 3) for t in v] for k, v in predict.items()},
        "equal_pooling": equal_pool,
        "equal_predictions": bool(np.array_equal(fast, slow)),
        "load_1min_after": load_1min(),
    }
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
