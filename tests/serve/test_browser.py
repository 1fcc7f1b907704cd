"""A real browser (Debian's Chromium through Playwright) drives the upload page against a live server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _apt(*args: str, sudo: bool) -> subprocess.CompletedProcess:
    cmd = (["sudo", "-n"] if sudo else []) + ["apt-get", *args]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get when missing (as root, or with sudo on CI)."""
    if CHROMIUM.exists():
        return CHROMIUM
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if not is_root and not _on_ci():
        pytest.skip("chromium is missing and installing it needs root: run `apt-get install -y chromium` as root")
    sudo = not is_root
    if sudo and shutil.which("sudo") is None:
        pytest.fail("chromium is missing, this CI job is not root and has no sudo to run apt-get")
    result = _apt("install", "-y", "chromium", sudo=sudo)
    if result.returncode != 0 or not CHROMIUM.exists():
        _apt("update", sudo=sudo)
        result = _apt("install", "-y", "chromium", sudo=sudo)
    if result.returncode != 0 or not CHROMIUM.exists():
        pytest.fail(f"could not install chromium with apt-get:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if _on_ci():
            pytest.fail("playwright is not installed (it is in the dev extra: pip install -e '.[dev]')")
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


def test_upload_photos_and_see_results(browser, live_server: str, crack_png: bytes, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    external: list[str] = []
    page.on(
        "request", lambda r: external.append(r.url) if not r.url.startswith((live_server, "data:", "blob:")) else None
    )
    page.goto(live_server + "/")
    page.wait_for_function("document.querySelectorAll('#method option').length > 0")
    assert page.input_value("#method") == "gradcam++"

    page.set_input_files(
        "#file-input",
        files=[
            {"name": "crack.png", "mimeType": "image/png", "buffer": crack_png},
            {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo at all\n" * 20},
        ],
    )
    page.fill("#mm-per-px", "0.2")
    page.click("#analyse")

    # Results come in one card per photo; the button is enabled again once both are done.
    page.wait_for_selector(".card.result .fig-overlay img", timeout=60_000)
    page.wait_for_selector(".card.failed .error", timeout=60_000)
    page.wait_for_function("!document.querySelector('#analyse').disabled", timeout=60_000)

    ok = page.locator(".card.result:not(.failed)")
    assert ok.count() == 1
    assert ok.locator("h2").inner_text() == "crack.png"
    for fig in ("fig-original", "fig-heatmap", "fig-mask", "fig-overlay"):
        loaded = ok.locator(f".{fig} img").evaluate("img => img.complete && img.naturalWidth > 0")
        assert loaded, fig
    badge = ok.locator(".badge")
    assert "%" in badge.inner_text()
    table = ok.locator("table.measurements")
    assert table.is_visible()
    assert "length mm" in table.locator("thead").inner_text()
    assert table.locator("tbody tr").count() >= 1
    link = ok.locator("a.download")
    assert link.get_attribute("download") == "crack_cracks.csv"
    with page.expect_download() as info:
        link.click()
    csv_text = Path(info.value.path()).read_text()
    assert csv_text.startswith("filename,crack_id,") and "crack.png,1," in csv_text

    error = page.locator(".card.failed .error").inner_text()
    assert "notes.jpg" in error and "not a supported image" in error
    assert external == [], f"the page fetched outside resources: {external}"

    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("CRACKSCOPE_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["CRACKSCOPE_SCREENSHOT"])
    page.close()


def test_page_reports_a_missing_file_choice(browser, live_server: str) -> None:
    page = browser.new_page()
    page.goto(live_server + "/")
    page.click("#analyse")
    assert "Choose at least one photo" in page.locator("#form-error").inner_text()
    page.close()
