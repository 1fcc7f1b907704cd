"""Fixtures of the serve tests: photos as bytes, a run that always draws a mask, test clients, a live server."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.serve.helpers import encode, free_port


@pytest.fixture(scope="session")
def crack_photo() -> np.ndarray:
    """A synthetic 96 px concrete photo with one crack."""
    from crackscope.data.synth import generate_pair

    image, mask = generate_pair(np.random.default_rng(3), 96, cracked=True)
    assert mask.any()
    return image


@pytest.fixture(scope="session")
def crack_png(crack_photo: np.ndarray) -> bytes:
    return encode(crack_photo)


@pytest.fixture(scope="session")
def crack_jpeg(crack_photo: np.ndarray) -> bytes:
    return encode(crack_photo, "JPEG", quality=90)


@pytest.fixture(scope="session")
def eager_run(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run with its decision threshold set to 0, so every photo is called cracked and mapped.

    The tiny test model is barely trained; this keeps the UI tests (mask, numbered cracks, measurements
    table) independent of how confident it happens to be.
    """
    run = tmp_path_factory.mktemp("runs") / "eager"
    shutil.copytree(tiny_run, run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["threshold"] = 0.0
    (run / "config.json").write_text(json.dumps(cfg))
    return run


@pytest.fixture(scope="session")
def client(eager_run: Path) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from crackscope.serve.app import create_app

    with TestClient(create_app(eager_run)) as c:
        yield c


@pytest.fixture(scope="session")
def live_server(eager_run: Path) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 on a free port, in a thread; yields its base URL."""
    import uvicorn

    from crackscope.serve.app import create_app

    port = free_port()
    config = uvicorn.Config(create_app(eager_run), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
