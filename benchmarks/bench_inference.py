"""Inference speed of every classifier: float32 versus channels_last + bfloat16 autocast.

For each model and input size (128 and 227 px) it times forward passes of one batch (median of several
repeats after a warm-up), for float32 (contiguous NCHW) and for ``crackscope.models.speed`` (channels_last +
bf16 autocast), and reports images/s, the bf16 speedup and the speedup over ``seed-baseline``. It also
compares fp32 and bf16 logits and decisions (logit > 0) on the same inputs: random-init models on random
images, and, if a trained run is given (``--run``), the trained model on real images (``--images``).

    .venv/bin/python benchmarks/bench_inference.py --out benchmarks/results/inference.md

The machine is shared: run it in the background and read the load average it records. With ``--threads 1``
the images per CPU-second column is robust to other jobs' load (two threads on an oversubscribed machine
mostly spin-wait for each other).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from context import load_1min, run_context  # benchmarks/context.py, beside this script

from crackscope.models import create_model, list_models
from crackscope.models.speed import bf16_supported, fast_inference, to_fast_input

HEAVY = {"vgg16", "resnet50"}


def time_pair(model: torch.nn.Module, batch: torch.Tensor, *, repeats: int) -> tuple[list, list]:
    """(wall, CPU) seconds per forward pass for fp32 (NCHW) and channels_last+bf16, interleaved repeat by repeat.

    Interleaving keeps the two paths under the same background load (the machine is shared). Two copies of
    the model are used so that neither changes memory format between passes.
    """
    ref = copy.deepcopy(model).eval().to(memory_format=torch.contiguous_format)
    x_fast = to_fast_input(batch)
    fp32_times, fast_times = [], []
    with fast_inference(copy.deepcopy(model)) as fast_model:
        with torch.autocast("cpu", enabled=False):  # the fp32 path must not inherit the bf16 autocast
            ref(batch)
        fast_model(x_fast)
        for _ in range(repeats):
            with torch.autocast("cpu", enabled=False):
                t, c = time.perf_counter(), time.process_time()
                ref(batch)
                fp32_times.append((time.perf_counter() - t, time.process_time() - c))
            t, c = time.perf_counter(), time.process_time()
            fast_model(x_fast)
            fast_times.append((time.perf_counter() - t, time.process_time() - c))
    return fp32_times, fast_times


def agreement(model: torch.nn.Module, batch: torch.Tensor) -> tuple[float, float, float]:
    """(decision agreement, max |logit difference|, max |logit|) between fp32 and channels_last+bf16."""
    model.eval().to(memory_format=torch.contiguous_format)
    with torch.inference_mode():
        ref = model(batch).float()
    with fast_inference(model) as m:
        fast = m(to_fast_input(batch)).float()
    agree = ((ref > 0) == (fast > 0)).float().mean().item()
    return agree, (ref - fast).abs().max().item(), ref.abs().max().item()


def real_agreement(run_dir: Path, images: list[Path], limit: int) -> str:
    """Decision agreement of a trained run's model on real images (fp32 vs bf16), at its threshold."""
    from crackscope.io import read_image
    from crackscope.training.run import load_run

    run = load_run(run_dir)
    chosen = random.Random(0).sample(images, min(limit, len(images)))  # both classes, not the first folder
    batch = torch.stack([run.preprocess(read_image(p)) for p in chosen]).float()
    model = run.model
    with torch.inference_mode():
        ref = torch.sigmoid(model.eval().to(memory_format=torch.contiguous_format)(batch).float())
    with fast_inference(model) as m:
        fast = torch.sigmoid(m(to_fast_input(batch)).float())
    thr = run.threshold
    agree = ((ref >= thr) == (fast >= thr)).float().mean().item()
    return (
        f"- trained run `{run_dir}` ({run.name}, {run.image_size} px, threshold {thr:.3f}) on {len(batch)} real "
        f"images: decisions agree {agree:.2%}, max |probability difference| {(ref - fast).abs().max().item():.4f}"
    )


def write_report(
    args: argparse.Namespace, rows: list, agree_rows: list, *, context: dict, started: float, real: str | None
) -> None:
    """(Re)write the Markdown report; called after every model so a cut-off run keeps what it measured."""
    baseline_fp32 = {r[2]: r[5] for r in rows if r[0] == "seed-baseline"}
    load_after = load_1min()
    lines = [
        "# Inference speed: float32 vs channels_last + bfloat16",
        "",
        f"- date: {context['date']}; commit {context['commit']}; {len(rows)} rows after {time.time() - started:.0f} s",
        f"- command: `.venv/bin/python benchmarks/bench_inference.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch "
        f"{torch.__version__}, {args.threads} threads, native bf16: {bf16_supported()}; Python "
        f"{platform.python_version()}; **shared with other jobs** (1-min load average {context['load_1min']} before, "
        f"{load_after} after), "
        "so wall-clock numbers are noisy (fp32 and bf16 passes are interleaved, so a row's ratio saw the same load); "
        "with `--threads 1` the images per CPU-second (process time) are robust to that load",
        f"- random-init models, random 0..255 inputs; median of {args.repeats} timed forward passes "
        f"({args.heavy_repeats} for vgg16/resnet50, batch {args.heavy_batch}) after one warm-up",
        "",
        "| model | params | size | batch | fp32 img/s | cl+bf16 img/s | bf16 speedup | fp32 vs seed-baseline fp32 "
        "| best vs seed-baseline best | img per CPU-s fp32 / cl+bf16 | CPU: best vs seed-baseline best |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    best_base = {r[2]: max(r[5], r[6]) for r in rows if r[0] == "seed-baseline"}
    cpu_base = {r[2]: max(r[7]) for r in rows if r[0] == "seed-baseline"}
    for name, params, size, batch_n, _, fp32, fast, cpu in rows:
        vs = f"x{fp32 / baseline_fp32[size]:.2f}" if size in baseline_fp32 else "-"
        vs_best = f"x{max(fp32, fast) / best_base[size]:.2f}" if size in best_base else "-"
        vs_cpu = f"x{max(cpu) / cpu_base[size]:.2f}" if size in cpu_base else "-"
        lines.append(f"| {name} | {params:,} | {size} | {batch_n} | {fp32:.1f} | {fast:.1f} | x{fast / fp32:.2f} "
                     f"| {vs} | {vs_best} | {cpu[0]:.1f} / {cpu[1]:.1f} | {vs_cpu} |")  # fmt: skip
    lines += [
        "",
        "## fp32 vs channels_last + bf16: do the decisions agree?",
        "",
        "Same inputs through both paths; decision = logit > 0.",
        "",
        "| model | size | images | decisions agree | max abs logit diff | max abs fp32 logit |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, size, n, agree, diff, scale in agree_rows:
        lines.append(f"| {name} | {size} | {n} | {agree:.1%} | {diff:.4f} | {scale:.3f} |")
    if real is not None:
        lines += ["", "## On real images with a trained model", "", real]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None, help="default: every registered model except tests")
    parser.add_argument("--sizes", nargs="*", type=int, default=[128, 227])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--heavy-batch", type=int, default=8, help="batch for vgg16/resnet50")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--heavy-repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run", type=Path, default=None, help="a trained classifier run for the real-image check")
    parser.add_argument("--images", type=Path, default=None, help="folder of real images for --run")
    parser.add_argument("--limit", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/inference.md"))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    # seed-baseline first (the reference), vgg16 last (slowest); seed-v3-aug is the seed-v3 network.
    default = [m.name for m in list_models() if "test" not in m.tags and m.name != "seed-v3-aug"]
    names = args.models or sorted(default, key=lambda n: (n != "seed-baseline", n == "vgg16", n))
    # Warm the thread pool and oneDNN's kernel caches once, untimed, so the first model measured (the
    # seed-baseline reference) is not charged for start-up (it measured about 2x slow without this).
    warm = create_model(names[0])
    for size in args.sizes:
        time_pair(warm, torch.rand(args.batch, 3, size, size) * 255, repeats=2)
    del warm
    context = run_context()  # date, commit, machine, load before
    started = time.time()
    rows: list = []
    agree_rows: list = []
    for name in names:
        torch.manual_seed(0)
        model = create_model(name)
        params = sum(p.numel() for p in model.parameters())
        heavy = name in HEAVY
        batch_n = args.heavy_batch if heavy else args.batch
        repeats = args.heavy_repeats if heavy else args.repeats
        for size in args.sizes:
            gen = torch.Generator().manual_seed(size)
            batch = torch.rand(batch_n, 3, size, size, generator=gen) * 255
            fp32_times, fast_times = time_pair(model, batch, repeats=repeats)
            fp32 = batch_n / statistics.median(t for t, _ in fp32_times)
            fast = batch_n / statistics.median(t for t, _ in fast_times)
            # images per CPU-second: robust to other jobs' load when --threads 1 (no spin-waiting threads)
            cpu = tuple(batch_n / statistics.median(c for _, c in times) for times in (fp32_times, fast_times))
            rows.append((name, params, size, batch_n, repeats, fp32, fast, cpu))
            agree, diff, scale = agreement(model, batch)
            agree_rows.append((name, size, batch_n, agree, diff, scale))
            print(f"{name:14s} {size:4d}px fp32 {fp32:8.1f} img/s  cl+bf16 {fast:8.1f} img/s  "
                  f"x{fast / fp32:.2f}  agree {agree:.0%}", flush=True)  # fmt: skip
        del model
        write_report(args, rows, agree_rows, context=context, started=started, real=None)

    real = None
    if args.run is not None and args.images is not None:
        from crackscope.io import list_images

        real = real_agreement(args.run, list_images([args.images]), args.limit)
        print(real)
    write_report(args, rows, agree_rows, context=context, started=started, real=real)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
