"""Load test of the web API: N concurrent photo uploads to ``/api/map`` of a live ``crackscope serve``.

    .venv/bin/python benchmarks/bench_api_load.py                 # 64 requests, all 64 at once, builtin run
    .venv/bin/python benchmarks/bench_api_load.py --requests 4 --concurrency 2 --out /tmp/api_load.jsonl

It starts ``crackscope serve RUN`` (default: the bundled ``builtin`` run) on 127.0.0.1 on a free port, waits
for ``/health``, then sends exactly ``--requests`` uploads of one synthetic photo (544x384 PNG with a crack,
made here from ``crackscope.data.synth``) from ``--concurrency`` client threads, each with a per-request
timeout (``--timeout``, httpx's connect/read/write limit), under an overall limit (``--time-limit``): requests
not answered by then count as errors and are not waited for. Then it stops the server.

Errors are non-200 answers, 200 answers whose body is not the photo's map, timeouts, transport errors and
requests left unanswered at the overall limit. Latency (p50/p95/max, linear-interpolated percentiles) is over
the 200 answers, from sending a request to reading its whole answer (queueing in the server included: the
model serves one photo at a time). The row (with date, commit, machine and load, from ``context.py``) is
printed as Markdown and appended as a JSON line to ``benchmarks/results/api_load.jsonl`` (``--out``).

The machine is shared: the row records the 1-minute load before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import numpy as np
from context import load_1min, run_context  # benchmarks/context.py, beside this script
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "api_load.jsonl"
HOST = "127.0.0.1"  # never anything else: the server and the clients stay on this machine


@dataclass
class Outcome:
    """One request: its HTTP status (None when no answer came), seconds, and what went wrong, if anything."""

    status: int | None
    seconds: float
    error: str | None = None
    answer: str | None = None  # label and number of cracks of a good answer


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def make_photo(width: int = 544, height: int = 384, seed: int = 0) -> bytes:
    """A synthetic concrete photo of ``width`` x ``height`` px with a crack, as PNG bytes.

    ``crackscope.data.synth`` draws square photos: one of side ``width`` is cropped to the ``height`` rows
    holding the most crack.
    """
    from crackscope.data.synth import generate_pair

    image, mask = generate_pair(np.random.default_rng(seed), max(width, height), cracked=True)
    rows = np.convolve(mask.sum(axis=1), np.ones(height), mode="valid")  # crack pixels per window of rows
    top = int(np.argmax(rows))
    image = image[top : top + height, :width]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def start_server(run: str, preset: str | None, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``crackscope serve`` as a child process (the console command's own code path), logging to ``log``."""
    cmd = [sys.executable, "-m", "crackscope", "serve", run, "--host", HOST, "--port", str(port)]
    if preset:
        cmd += ["--preset", preset]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def wait_healthy(base: str, proc: subprocess.Popen[bytes], limit: float) -> dict[str, object]:
    """Poll ``/health`` until it answers 200 (its JSON) or ``limit`` seconds pass / the server exits."""
    deadline = time.monotonic() + limit
    while True:
        try:
            r = httpx.get(base + "/health", timeout=2)
            if r.status_code == 200:
                return dict(r.json())
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before answering /health")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer /health within {limit:.0f} s")
        time.sleep(0.25)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def send(
    client: httpx.Client, i: int, photo: bytes, mm_per_px: float | None, deadline: float, stop: threading.Event
) -> Outcome:
    """Upload the photo as ``load-<i>.png`` to /api/map; never raises. A good answer is 200 with this photo's
    map: its file name, the photo's size, a mask and the measurements."""
    if stop.is_set() or time.monotonic() > deadline:
        return Outcome(None, 0.0, "not sent (overall time limit)")
    name = f"load-{i}.png"
    data = {} if mm_per_px is None else {"mm_per_px": str(mm_per_px)}
    t = time.perf_counter()
    try:
        r = client.post("/api/map", files={"file": (name, photo, "image/png")}, data=data)
    except httpx.TimeoutException as exc:
        return Outcome(None, time.perf_counter() - t, f"timeout ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return Outcome(None, time.perf_counter() - t, f"transport error ({type(exc).__name__})")
    seconds = time.perf_counter() - t
    if r.status_code != 200:
        return Outcome(r.status_code, seconds, f"HTTP {r.status_code}: {r.text[:200]}")
    try:
        body = r.json()
    except ValueError:
        return Outcome(200, seconds, "200 with a body that is not JSON")
    size = Image.open(io.BytesIO(photo)).size
    if body.get("filename") != name or (body.get("width"), body.get("height")) != size or "measurements" not in body:
        return Outcome(200, seconds, "200 with a body that is not this photo's map")
    return Outcome(200, seconds, answer=f"{body.get('label')}, {body.get('n_cracks')} cracks")


def run_load(
    base: str,
    photo: bytes,
    *,
    requests: int,
    concurrency: int,
    timeout: float,
    time_limit: float,
    mm_per_px: float | None,
) -> tuple[list[Outcome], float]:
    """Send exactly ``requests`` uploads from ``concurrency`` threads; (outcomes in request order, wall s)."""
    deadline = time.monotonic() + time_limit
    stop = threading.Event()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=base, timeout=timeout, limits=limits) as client:
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load")
        t = time.perf_counter()
        futures: list[Future[Outcome]] = [
            pool.submit(send, client, i, photo, mm_per_px, deadline, stop) for i in range(requests)
        ]
        wait(futures, timeout=max(0.0, deadline - time.monotonic()), return_when=ALL_COMPLETED)
        wall = time.perf_counter() - t
        stop.set()  # requests not started yet are not sent; the ones in flight are abandoned below
        outcomes = [
            f.result()
            if f.done() and not f.cancelled()
            else Outcome(None, 0.0, "not sent (overall time limit)")
            if f.cancel()
            else Outcome(None, wall, "unanswered at the overall time limit")
            for f in futures
        ]
        pool.shutdown(wait=False, cancel_futures=True)
    return outcomes, wall


def summarize(outcomes: list[Outcome], wall: float) -> dict[str, object]:
    """Answer counts, error kinds, latency percentiles of the good answers and their rate."""
    ok = [o.seconds for o in outcomes if o.error is None]
    errors: dict[str, int] = {}
    for o in outcomes:
        if o.error is not None:
            kind = o.error.split(":")[0]
            errors[kind] = errors.get(kind, 0) + 1
    p50, p95 = np.percentile(ok, [50, 95]) if ok else (None, None)
    return {
        "ok": len(ok),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "min_s": round(min(ok), 3) if ok else None,
        "p50_s": None if p50 is None else round(float(p50), 3),
        "p95_s": None if p95 is None else round(float(p95), 3),
        "max_s": round(max(ok), 3) if ok else None,
        "wall_s": round(wall, 2),
        "photos_per_s": round(len(ok) / wall, 3) if wall > 0 else None,
    }


def fmt(value: object) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=64, help="number of uploads, sent exactly once each (64)")
    ap.add_argument("--concurrency", type=int, default=64, help="client threads sending at once (64)")
    ap.add_argument("--timeout", type=float, default=300.0, help="per-request timeout in seconds (300)")
    ap.add_argument("--time-limit", type=float, default=600.0, help="overall limit for all requests, s (600)")
    ap.add_argument("--start-timeout", type=float, default=120.0, help="seconds to wait for /health (120)")
    ap.add_argument("--run", default="builtin", help="run folder for `crackscope serve` (builtin)")
    ap.add_argument("--preset", default=None, help="map recipe for /api/map (default: the run's own)")
    ap.add_argument("--size", default="544x384", help="photo size WIDTHxHEIGHT (544x384)")
    ap.add_argument("--mm-per-px", type=float, default=0.1, help="scale sent with each photo; 0: none (0.1)")
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"JSON lines file to append to ({RESULTS})")
    args = ap.parse_args()
    if args.requests < 1 or args.concurrency < 1 or args.timeout <= 0 or args.time_limit <= 0:
        ap.error("--requests, --concurrency, --timeout and --time-limit must be positive")
    width, height = (int(v) for v in args.size.lower().split("x"))

    context = run_context()
    photo = make_photo(width, height)
    port = free_port()
    base = f"http://{HOST}:{port}"
    print(f"starting `crackscope serve {args.run}` on {base} ...", flush=True)
    with tempfile.TemporaryFile() as log:
        t = time.perf_counter()
        proc = start_server(args.run, args.preset, port, log)
        try:
            health = wait_healthy(base, proc, args.start_timeout)
            start_s = time.perf_counter() - t
            print(f"server up in {start_s:.1f} s ({health}); sending {args.requests} uploads", flush=True)
            outcomes, wall = run_load(
                base,
                photo,
                requests=args.requests,
                concurrency=args.concurrency,
                timeout=args.timeout,
                time_limit=args.time_limit,
                mm_per_px=args.mm_per_px or None,
            )
            alive = proc.poll() is None
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            stop_server(proc)

    summary = summarize(outcomes, wall)
    row: dict[str, object] = {
        **context,
        "load_1min_after": load_1min(),
        "run": args.run,
        "preset": args.preset,
        "server": health,
        "photo": f"{width}x{height} PNG, {len(photo)} bytes",
        "requests": args.requests,
        "concurrency": args.concurrency,
        "timeout_s": args.timeout,
        "time_limit_s": args.time_limit,
        "server_start_s": round(start_s, 2),
        "server_alive_after": alive,
        "answers": sorted({o.answer for o in outcomes if o.answer}),
        **summary,
    }
    first_errors = [f"#{i}: {o.error}" for i, o in enumerate(outcomes) if o.error][:5]
    if first_errors:
        print("errors (first 5):\n  " + "\n  ".join(first_errors))

    header = (
        "| date | commit | machine | load before/after | requests x concurrency | errors "
        "| p50 s | p95 s | max s | wall s | photos/s |"
    )
    print(header)
    print("|---" * 11 + "|")
    print(
        f"| {row['date']} | {row['commit']} | {row['machine']} | {row['load_1min']}/{row['load_1min_after']} "
        f"| {args.requests} x {args.concurrency} | {summary['errors']} | {fmt(summary['p50_s'])} "
        f"| {fmt(summary['p95_s'])} | {fmt(summary['max_s'])} | {wall:.1f} | {fmt(summary['photos_per_s'])} |"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"appended to {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
