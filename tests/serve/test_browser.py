"""A real browser (Debian's Chromium through Playwright) drives the upload page against a live server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.serve.helpers import encode

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
    for fig in ("fig-original", "fig-cam", "fig-mask", "fig-overlay", "fig-probability"):
        loaded = ok.locator(f".{fig} img").evaluate("img => img.complete && img.naturalWidth > 0")
        assert loaded, fig
    badge = ok.locator(".badge")
    assert "crack probability" in badge.inner_text() and "%" in badge.inner_text()
    assert "gradcam++" in ok.locator(".fig-cam figcaption").inner_text()
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


def _photo(seed: int, width: int, height: int) -> np.ndarray:
    """A real-sized synthetic concrete photo with cracks (crackscope's own generator, cropped)."""
    from crackscope.data.synth import generate_pair

    image, _ = generate_pair(np.random.default_rng(seed), max(width, height), cracked=True)
    return np.ascontiguousarray(image[:height, :width])


def _stats(scope) -> dict[str, tuple[float | None, str]]:
    """The headline's numbers (raw value, shown text) by key, from a locator holding one headline."""
    out = {}
    for stat in scope.locator(".headline .stat").all():
        raw = stat.get_attribute("data-value")
        out[stat.get_attribute("data-key")] = (float(raw) if raw else None, stat.locator("b").inner_text())
    return out


def _check_headline(shown: dict[str, tuple[float | None, str]], headline: dict, unit: str) -> None:
    """The page shows the JSON headline's numbers, formatted, in ``unit``."""
    assert shown["n_cracks"] == (headline["n_cracks"], str(headline["n_cracks"]))
    for key, digits in (("total_length", 1), ("max_width", 2), ("mean_width", 2)):
        value, text = shown[key]
        if key != "total_length" and headline["n_cracks"] == 0:
            assert (value, text) == (None, "\u2013")  # an en dash: no width without cracks
            continue
        expected = headline[f"{key}_{unit}"]
        assert value == pytest.approx(expected, rel=1e-9), key
        assert text == f"{expected:.{digits}f} {unit}", key


def _box(locator) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None
    return box


def test_headline_scale_line_and_layout(browser, live_server: str, tmp_path: Path) -> None:
    import httpx

    from crackscope.maps.measure import CrackSummary, combine_summaries

    width = 1280
    photos = [
        ("wall.png", "image/png", encode(_photo(11, 1024, 768))),
        ("floor.jpg", "image/jpeg", encode(_photo(12, 800, 600), "JPEG", quality=90)),
    ]
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(live_server + "/")
    page.wait_for_function("document.querySelectorAll('#method option').length > 0")
    page.set_input_files("#file-input", files=[{"name": n, "mimeType": m, "buffer": b} for n, m, b in photos])
    page.click("#analyse")
    page.wait_for_function("document.querySelectorAll('.card.result .fig-overlay img').length === 2", timeout=120_000)
    page.wait_for_function("!document.querySelector('#analyse').disabled", timeout=120_000)

    # -- the headline of each photo and of the batch: the JSON API's numbers -------------------------------
    def api(name: str, mime: str, data: bytes, scale: str | None = None) -> dict:
        form = {"method": "gradcam++", **({"mm_per_px": scale} if scale else {})}
        r = httpx.post(live_server + "/api/map", files={"file": (name, data, mime)}, data=form, timeout=120)
        assert r.status_code == 200, r.text
        return r.json()

    answers = [api(*p) for p in photos]
    cards = page.locator(".card.result")
    assert cards.count() == 2
    for i, answer in enumerate(answers):
        assert cards.nth(i).locator("h2").inner_text() == photos[i][0]
        _check_headline(_stats(cards.nth(i)), answer["headline"], "px")
        assert cards.nth(i).locator("table.measurements tbody tr").count() == answer["n_cracks"]
    batch = combine_summaries(
        CrackSummary(**{k: v for k, v in a["headline"].items() if k != "unit"}) for a in answers
    ).as_dict()
    shown_batch = _stats(page.locator(".batch-head"))
    assert shown_batch["n_photos"] == (2, "2")
    _check_headline(shown_batch, batch, "px")

    # -- layout: headline above the images, the CAM beside the mask, large images, no horizontal scroll -----
    card = cards.nth(0)
    head = _box(card.locator(".headline"))
    figs = {name: _box(card.locator(f".fig-{name} img")) for name in ("original", "overlay", "cam", "mask")}
    assert head["y"] + head["height"] <= min(b["y"] for b in figs.values())
    cam, mask = figs["cam"], figs["mask"]
    assert abs(cam["y"] - mask["y"]) <= 2 and cam["x"] + cam["width"] <= mask["x"] + 1
    assert abs(cam["width"] - mask["width"]) <= 2 and cam["width"] >= 450  # half the card, not 250 px
    assert "gradcam++" in card.locator(".fig-cam figcaption").inner_text()

    def fits() -> None:
        table = _box(card.locator("table.measurements"))
        assert table["x"] >= 0 and table["x"] + table["width"] <= width
        wrap = card.locator(".table-wrap").evaluate("w => [w.scrollWidth, w.clientWidth]")
        assert wrap[0] <= wrap[1], f"the table scrolls sideways: {wrap}"
        assert page.evaluate("document.documentElement.scrollWidth") <= width

    fits()

    # -- images open full size ------------------------------------------------------------------------------
    card.locator(".fig-overlay img").click()
    page.wait_for_selector("#lightbox[open]")
    natural = page.locator("#lightbox img").evaluate("i => [i.naturalWidth, i.complete, i.width]")
    assert natural == [1024, True, 1024]  # shown at full size, not fitted to the window
    page.keyboard.press("Escape")
    page.wait_for_selector("#lightbox:not([open])", state="attached")
    card.locator(".fig-original img").click()
    page.wait_for_selector("#lightbox[open]")
    page.wait_for_function("document.querySelector('#lightbox img').complete")
    src, natural_width = page.locator("#lightbox img").evaluate("i => [i.src, i.naturalWidth]")
    assert src.startswith("blob:") and natural_width == 1024  # the uploaded photo itself
    page.keyboard.press("Escape")

    # -- the scale from a line of known length drawn on the photo ---------------------------------------------
    card.locator(".scale-draw").click()
    photo = _box(card.locator(".fig-original img"))
    y = photo["y"] + photo["height"] / 2
    page.mouse.click(photo["x"] + 0.1 * photo["width"], y)
    page.mouse.click(photo["x"] + 0.9 * photo["width"], y)
    line_px = 0.8 * 1024  # in the photo's own pixels, whatever its size on screen
    pixels = card.locator(".scale-pixels").inner_text()
    assert float(pixels.split()[1]) == pytest.approx(line_px, abs=4), pixels
    card.locator(".scale-length").fill("200")
    card.locator(".scale-apply").click()
    page.wait_for_function("document.querySelector('.card.result').dataset.mmPerPx", timeout=60_000)
    scale = card.get_attribute("data-mm-per-px")
    assert scale and float(scale) == pytest.approx(200 / line_px, rel=0.01)
    assert "mm/px" in card.locator(".scale-status").inner_text()
    scaled = api(*photos[0], scale=scale)
    assert card.locator(".headline").get_attribute("data-unit") == "mm"
    _check_headline(_stats(card), scaled["headline"], "mm")
    headers = card.locator("table.measurements th").all_inner_texts()
    if scaled["n_cracks"]:
        assert headers[:2] == ["#", "length mm"] and headers.index("length px") > headers.index("area mm²")
        assert headers[-1] == "bbox (y0, x0, y1, x1) px"
        first = card.locator("table.measurements tbody tr").first.locator("td").all_inner_texts()
        assert first[1] == f"{scaled['measurements'][0]['length_mm']:.1f}"
    fits()  # the millimetre columns fit too
    # one photo with a scale, one without: the batch stays in pixels and says why
    assert "not every photo has a scale" in page.locator(".batch-head h2").inner_text()

    shot = tmp_path / "layout.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("CRACKSCOPE_LAYOUT_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["CRACKSCOPE_LAYOUT_SCREENSHOT"])
    page.close()
