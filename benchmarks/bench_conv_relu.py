"""Convolutions with their ReLUs as one oneDNN call, against the two steps: pixel networks and the classifier.

    LD_PRELOAD=<tcmalloc> .venv/bin/python benchmarks/bench_conv_relu.py [--repeat 7] [--classifier]

Side by side, interleaved, medians (s). Without ``--classifier``: ``PixelModel.predict`` of a 2100 x 1500 photo
(random pixels, a width-12 network with random weights and batch-norm statistics) with
``crackscope.models.speed.fuse_conv_relu`` (the default) and without it (each convolution, then its ReLU); whether
the two predictions are equal. With ``--classifier``: ``ClassifierRun.predict_logits`` of the bundled run
(``crackfast``) on 512 synthetic 128 px photos (``crackscope.data.synth``, half cracked) through its inference copy
(batch norms folded, convolutions fused with their ReLUs; the default) and through the network itself (as
predictions ran before), both in the run's precision (bf16); the largest probability difference, how many
decisions at the run's threshold agree, and how many of each agree with the network's own float32 decisions.
A JSON line goes to ``benchmarks/results/conv_relu.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_restorer import append_result  # noqa: E402
from context import load_1min, run_context  # noqa: E402


def pixel_rows(repeat: int) -> dict[str, object]:
    import torch

    import crackscope.maps.pixel_model as pixel_model
    import crackscope.models.speed as speed
    from tests.models.helpers import randomize_batch_norms

    torch.manual_seed(0)
    net = pixel_model.make_pixel_net(12)
    randomize_batch_norms(net)
    photo = (np.random.default_rng(0).random((1500, 2100, 3)) * 255).astype(np.uint8)
    models = {"fused": pixel_model.PixelModel(net, {}), "two steps": pixel_model.PixelModel(net, {})}

    # each model makes its inference copy on its first call and keeps it: "two steps" makes it without the fusion
    with mock.patch.object(speed, "fuse_conv_relu", lambda n: n):
        outputs = {"two steps": models["two steps"].predict(photo)}
    outputs["fused"] = models["fused"].predict(photo)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeat):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict(photo)
            times[name].append(time.perf_counter() - start)
    medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
    return {
        "predict_s_median": medians,
        "predict_s_all": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "speed_up": round(medians["two steps"] / medians["fused"], 2),
        "equal_predictions": bool(np.array_equal(outputs["fused"], outputs["two steps"])),
    }


def classifier_rows(repeat: int) -> dict[str, object]:
    from crackscope.data.synth import generate_pair
    from crackscope.training.loop import sigmoid
    from crackscope.training.run import ClassifierRun, load_run

    rng = np.random.default_rng(0)
    images = [generate_pair(rng, 128, cracked=bool(i % 2))[0] for i in range(512)]
    run = load_run("builtin", device="cpu")

    def itself(self: ClassifierRun) -> object:
        return self.model

    def logits(name: str) -> tuple[float, np.ndarray]:
        with mock.patch.object(ClassifierRun, "inference_model", itself) if name == "network" else nullcontext():
            start = time.perf_counter()
            out = run.predict_logits(images)
            return time.perf_counter() - start, out

    outputs = {name: logits(name)[1] for name in ("inference copy", "network")}
    with (
        mock.patch.object(ClassifierRun, "inference_model", itself),
        mock.patch.object(ClassifierRun, "_precision_here", lambda self: "fp32"),
    ):
        fp32 = sigmoid(run.predict_logits(images)) >= run.threshold  # the reference
    times: dict[str, list[float]] = {name: [] for name in outputs}
    for _ in range(repeat):
        for name in outputs:
            times[name].append(logits(name)[0])
    medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
    probs = {k: sigmoid(v) for k, v in outputs.items()}
    decided = {k: p >= run.threshold for k, p in probs.items()}
    return {
        "run": "builtin",
        "photos": len(images),
        "predict_s_median": medians,
        "predict_s_all": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "speed_up": round(medians["network"] / medians["inference copy"], 2),
        "max_probability_difference": round(float(np.abs(probs["network"] - probs["inference copy"]).max()), 4),
        "decisions_agree": int((decided["network"] == decided["inference copy"]).sum()),
        "decisions_as_float32": {k: int((d == fp32).sum()) for k, d in decided.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--classifier", action="store_true", help="the bundled classifier instead of a pixel network")
    args = ap.parse_args()
    context = run_context()
    rows = classifier_rows(args.repeat) if args.classifier else pixel_rows(args.repeat)
    record = {**context, "command": " ".join(sys.argv), **rows, "load_1min_after": load_1min()}
    append_result("conv_relu.jsonl", record)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
