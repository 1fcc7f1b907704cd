"""Synthetic-crack generator speed: images per second at 256 px, end to end (generation + PNG writing).

    .venv/bin/python benchmarks/bench_synth.py [--n 200] [--size 256] [--repeats 5] [--out benchmarks/results/synth.md]

Runs ``crackscope.data.synth.synthesize`` ``--repeats`` times into a temporary folder and reports the median
wall-clock rate, the median CPU time per image (this process, all its threads) and the split between
generating (``generate_pair`` alone) and writing. The machine load average is recorded with the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from context import load_1min, run_context

from crackscope.data.synth import generate_pair, synthesize


def _timed(func) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write a markdown report here")
    args = parser.parse_args()

    generate_pair(np.random.default_rng(0), args.size)  # warm-up (imports, OpenCV init)
    context = run_context()  # date, commit, machine, load before
    full, full_cpu, gen, gen_cpu = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            w, c = _timed(lambda r=r: synthesize(Path(tmp) / f"run{r}", n=args.n, size=args.size, seed=r))
            full.append(args.n / w)
            full_cpu.append(1000 * c / args.n)

            def only_generate(seed: int = r) -> None:
                for i in range(args.n):
                    generate_pair(np.random.default_rng([seed, i]), args.size, cracked=i % 2 == 1)

            w, c = _timed(only_generate)
            gen.append(args.n / w)
            gen_cpu.append(1000 * c / args.n)
    context["load_1min_after"] = load_1min()

    med_full, med_gen = statistics.median(full), statistics.median(gen)
    lines = [
        "# Synthetic cracks: generator speed",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_synth.py --n {args.n} --size {args.size} "
        f"--repeats {args.repeats}`",
        "",
        f"Machine: {platform.machine()} Linux, {os.cpu_count()}-core CPU, shared with other jobs "
        f"(1-min load average {context['load_1min']} before, {context['load_1min_after']} after). "
        f"Date: {context['date']}. Commit: {context['commit']}. Python {platform.python_version()}, "
        f"numpy {np.__version__}.",
        "",
        f"{args.n} images of {args.size} px per repeat, {args.repeats} repeats, median over repeats.",
        "",
        "| step | images/s (wall, median) | min..max | CPU ms/image (median) |",
        "|---|---|---|---|",
        f"| `synthesize` (generate + write PNG image and mask + labels.csv) | {med_full:.1f} | "
        f"{min(full):.1f}..{max(full):.1f} | {statistics.median(full_cpu):.1f} |",
        f"| `generate_pair` only | {med_gen:.1f} | {min(gen):.1f}..{max(gen):.1f} | {statistics.median(gen_cpu):.1f} |",
        "",
        f"Writing takes {100 * (1 - med_full / med_gen):.0f} % of the end-to-end time "
        f"(ratio generate-only / end-to-end = {med_gen / med_full:.2f}). Target: at least 50 images/s end to end.",
        f"CPU-bound rate (1000 / CPU ms per image, what one idle core would give): "
        f"{1000 / statistics.median(full_cpu):.0f} images/s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
