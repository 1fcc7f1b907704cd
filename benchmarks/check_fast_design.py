"""Design check of a fast classifier on an Ozgenel subset (real data from ../shared, never committed).

Usage: .venv/bin/python benchmarks/check_fast_design.py [MODEL] [SIZE] [PER_CLASS] [EPOCHS]
(default crackfast 128 2000 6). Loads PER_CLASS images of each class (seeded), holds out a quarter,
trains AdamW 2e-3 + cosine + rot90/flip in bf16 on ONE thread (on a loaded 2-core machine one thread is
far faster than two spin-waiting ones), prints validation accuracy/recall per epoch, and at the end the
fp32 accuracy and the fp32-vs-bf16 decision agreement on the real validation images.
"""

import math
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from crackscope.models import create_model

torch.set_num_threads(1)
torch.manual_seed(0)
name = sys.argv[1] if len(sys.argv) > 1 else "crackfast"
size = int(sys.argv[2]) if len(sys.argv) > 2 else 128
per_class, epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 2000, int(sys.argv[4]) if len(sys.argv) > 4 else 6
root = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ozgenel-10k"
rng = random.Random(0)
items = []
for label, cls in ((1, "cracked"), (0, "uncracked")):
    files = sorted((root / cls).glob("*.jpg"))
    rng.shuffle(files)
    items += [(f, label) for f in files[:per_class]]
rng.shuffle(items)
t0 = time.time()
X = np.stack([cv2.resize(cv2.imread(str(f))[:, :, ::-1], (size, size), interpolation=cv2.INTER_AREA) for f, _ in items])
Y = np.array([label for _, label in items], dtype=np.float32)
print(f"loaded {len(X)} in {time.time() - t0:.1f}s", flush=True)
n_val = len(X) // 4
Xv, Yv, Xt, Yt = X[:n_val], Y[:n_val], X[n_val:], Y[n_val:]
model = create_model(name).to(memory_format=torch.channels_last)
opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
bs = 32
steps = epochs * math.ceil(len(Xt) / bs)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1, s / steps))))


def to_t(a):
    return torch.from_numpy(a).permute(0, 3, 1, 2).float().contiguous(memory_format=torch.channels_last)


t_train = time.time()
for ep in range(epochs):
    model.train()
    perm = np.random.default_rng(ep).permutation(len(Xt))
    losses = []
    for i in range(0, len(perm), bs):
        idx = perm[i : i + bs]
        x = to_t(Xt[idx])
        y = torch.from_numpy(Yt[idx])[:, None]
        k = int(np.random.randint(4))
        x = torch.rot90(x, k, (2, 3))
        if np.random.rand() < 0.5:
            x = torch.flip(x, (3,))
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logit = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    train_time = time.time() - t_train
    model.eval()
    preds = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(0, len(Xv), 64):
            preds.append(model(to_t(Xv[i : i + 64])).float())
    p = torch.cat(preds)[:, 0].numpy() > 0
    acc = (p == (Yv > 0.5)).mean()
    rec = p[Yv > 0.5].mean()
    msg = ""
    if ep == epochs - 1:
        preds32 = []
        with torch.inference_mode():
            for i in range(0, len(Xv), 64):
                preds32.append(model(torch.from_numpy(Xv[i : i + 64]).permute(0, 3, 1, 2).float().contiguous()))
        p32 = torch.cat(preds32)[:, 0].numpy() > 0
        msg = f" | fp32 val_acc {(p32 == (Yv > 0.5)).mean():.4f} decisions agree fp32/bf16 {(p32 == p).mean():.4f}"
        Path("/tmp/cfval").mkdir(exist_ok=True)
        torch.save(model.state_dict(), f"/tmp/cfval/{name}_{size}.pth")
    print(
        f"{name} {size}px ep{ep + 1} loss {np.mean(losses):.4f} val_acc(bf16) {acc:.4f} recall {rec:.4f} "
        f"train_t {train_time:.0f}s{msg}",
        flush=True,
    )
    t_train = time.time() - train_time
