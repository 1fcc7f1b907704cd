"""Training-step speed, fp32 versus channels_last + bfloat16 autocast, measured side by side.

    .venv/bin/python benchmarks/bench_train_step.py [--model crackfast] [--size 128] [--batch 32] [--repeats 12]

Both precisions train their own copy of the model on the same random batch; steps are interleaved so that
both see the same background load. Prints median seconds per step, images/s and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import torch
    import torch.nn.functional as F

    from crackscope.models import create_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="crackfast")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = (torch.rand(args.batch, 3, args.size, args.size) * 255).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (args.batch, 1)).float()
    models = {p: create_model(args.model).to(memory_format=torch.channels_last).train() for p in ("fp32", "bf16")}
    optims = {p: torch.optim.AdamW(m.parameters(), 1e-3) for p, m in models.items()}

    def step(precision: str) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = models[precision](x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        optims[precision].zero_grad()
        loss.backward()
        optims[precision].step()

    for precision in models:  # warm-up, untimed
        for _ in range(3):
            step(precision)
    times: dict[str, list[float]] = {p: [] for p in models}
    load = os.getloadavg()[0]
    for _ in range(args.repeats):
        for precision in models:
            t = time.perf_counter()
            step(precision)
            times[precision].append(time.perf_counter() - t)
    med = {p: statistics.median(v) for p, v in times.items()}
    print(
        f"{args.model}, batch {args.batch}, {args.size} px, {args.threads} threads, "
        f"load {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    for p, m in med.items():
        print(f"{p}: median {m:.4f} s/step, {args.batch / m:.1f} images/s")
    print(f"fp32 / bf16 time per step: {med['fp32'] / med['bf16']:.2f}x")


if __name__ == "__main__":
    main()
