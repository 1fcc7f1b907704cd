"""Speed of explaining versus predicting, and crackscope's CAM engine versus torchcam, side by side.

One model (``crackfast``, random init, eval mode, fp32), one batch (32 synthetic images at 128 px), one target layer
(``features.last``, the output of the last residual block, for every contender). Each repeat runs every contender
once, in turn (interleaved, because the machine is shared); the table gives medians.

* predict: ``model(x)`` under ``torch.inference_mode()``
* crackscope gradcam / gradcam++: ``create_cam(...)(x)``: one forward pass, autograd.grad to the activation,
  maps upsampled to 128 px, normalised, returned as numpy (the whole product)
* torchcam GradCAM / GradCAMpp (0.5.0, documented batched API): ``scores = model(x)``,
  ``extractor(class_idx=0, scores=scores)`` (maps at layer resolution, normalised; no upsampling)

    .venv/bin/python benchmarks/bench_cam.py --out benchmarks/results/cam.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from context import load_1min, run_context  # benchmarks/context.py, beside this script


def synthetic_images(n: int, size: int) -> torch.Tensor:
    from crackscope.data.synth import generate_pair

    rng = np.random.default_rng(0)
    images = [generate_pair(rng, size, cracked=i % 2 == 0)[0] for i in range(n)]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().contiguous()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="crackfast")
    parser.add_argument("--layer", default="features.last")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cam.md"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from torchcam.methods import GradCAM, GradCAMpp

    from crackscope.cam import create_cam
    from crackscope.models import create_model

    torch.manual_seed(0)
    model = create_model(args.model).eval()
    x = synthetic_images(args.n, args.size)
    ours_gc = create_cam("gradcam", model, layer=args.layer)
    ours_pp = create_cam("gradcam++", model, layer=args.layer)
    shape = (3, args.size, args.size)

    def predict() -> None:
        with torch.inference_mode():
            model(x)

    def torchcam_run(cls) -> Callable[[], None]:
        def run() -> None:
            with cls(model, args.layer, input_shape=shape) as extractor:
                scores = model(x)
                extractor(class_idx=0, scores=scores)

        return run

    contenders: dict[str, Callable[[], None]] = {
        "predict": predict,
        "crackscope gradcam": lambda: ours_gc(x),
        "crackscope gradcam++": lambda: ours_pp(x),
        "torchcam GradCAM": torchcam_run(GradCAM),
        "torchcam GradCAMpp": torchcam_run(GradCAMpp),
    }
    for fn in contenders.values():  # warm-up (layer choice, oneDNN kernels)
        fn()
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    context = run_context()  # date, commit, machine, load before
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    context["load_1min_after"] = load_1min()
    med = {name: statistics.median(ts) for name, ts in times.items()}
    ips = {name: args.n / m for name, m in med.items()}

    lines = [
        "# CAM engine speed: explaining vs predicting, crackscope vs torchcam",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_cam.py --model {args.model} --layer {args.layer} "
        f"--n {args.n} --size {args.size} --repeats {args.repeats}"
        + (f" --threads {args.threads}" if args.threads else "")
        + "`",
        "",
        f"Machine: {os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), shared with other jobs; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; 1-min load average "
        f"{context['load_1min']} before, {context['load_1min_after']} after.  ",
        f"Date: {context['date']}. Commit: {context['commit']}. Machine (arch, cores, Python): {context['machine']}.",
        "",
        f"Model `{args.model}` (random init, eval, fp32), batch of {args.n} synthetic images at {args.size} px, target "
        f"layer `{args.layer}` for all; {args.repeats} interleaved repeats, medians.",
        "",
        "| contender | median s/batch | images/s | cost vs predict |",
        "|---|---:|---:|---:|",
    ]
    for name in contenders:
        lines.append(f"| {name} | {med[name]:.4f} | {ips[name]:.1f} | {med[name] / med['predict']:.2f}x |")
    lines += [
        "",
        "| shared method | crackscope s | torchcam s | crackscope speed-up |",
        "|---|---:|---:|---:|",
        f"| Grad-CAM | {med['crackscope gradcam']:.4f} | {med['torchcam GradCAM']:.4f} | "
        f"{med['torchcam GradCAM'] / med['crackscope gradcam']:.2f}x |",
        f"| Grad-CAM++ | {med['crackscope gradcam++']:.4f} | {med['torchcam GradCAMpp']:.4f} | "
        f"{med['torchcam GradCAMpp'] / med['crackscope gradcam++']:.2f}x |",
        "",
        "Goal: explaining costs at most 1.2x predicting for the gradient methods; crackscope faster than torchcam on "
        "every shared method. crackscope's time includes upsampling the maps to the input size, normalising them "
        "and returning numpy arrays; torchcam's stops at normalised layer-resolution maps. Note that torchcam "
        "0.5.0's GradCAMpp computes a different (simplified) weight, see tests/cam/test_cam_reference.py.",
        "",
        "All repeats (s): " + "; ".join(f"{n}: " + ", ".join(f"{t:.3f}" for t in ts) for n, ts in times.items()),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
