"""The app behind a real uvicorn server: concurrent clients, the request-size guard, and `crackscope serve`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from tests.serve.helpers import encode, free_port


def test_concurrent_clients_over_http(live_server: str, crack_png: bytes, crack_jpeg: bytes) -> None:
    def send(i: int) -> httpx.Response:
        route = "/api/map" if i % 2 else "/api/predict"
        name, data = (f"p{i}.png", crack_png) if i % 3 else (f"p{i}.jpg", crack_jpeg)
        with httpx.Client(base_url=live_server, timeout=120) as c:
            return c.post(route, files={"file": (name, data)}, data={"method": "gradcam++"})

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(send, range(12)))
    assert [r.status_code for r in responses] == [200] * 12
    assert all(r.json()["filename"] == f"p{i}.{'png' if i % 3 else 'jpg'}" for i, r in enumerate(responses))
    # the server stays healthy and answers while nothing runs
    assert httpx.get(live_server + "/health", timeout=10).json()["status"] == "ok"


def test_oversized_request_is_refused_before_reading(eager_run: Path) -> None:
    from fastapi.testclient import TestClient

    from crackscope.serve.app import create_app

    big = encode(np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8))  # ~480 kB
    with TestClient(create_app(eager_run, max_upload_bytes=1000)) as c:
        r = c.post("/api/map", files={"file": ("big.png", big, "image/png")})
    assert r.status_code == 413
    assert "upload limit" in r.json()["detail"]


def test_serve_command(eager_run: Path) -> None:
    port = free_port()
    env = dict(os.environ, CRACKSCOPE_NO_TCMALLOC="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "crackscope", "serve", str(eager_run), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode() if proc.stdout else ""
                    raise AssertionError(f"server did not start:\n{output}") from None
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["run"] == "eager"
        assert "crackscope" in httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
