"""The JSON API with FastAPI's TestClient: results, OpenAPI schema, limits and bad inputs."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.serve.helpers import encode


def decode_data_url(url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` RGB pixels (no pixel data at all)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def post(client, route: str, name: str, data: bytes, mime: str = "image/png", **form: str):
    return client.post(route, files={"file": (name, data, mime)}, data=form)


# -- normal use -------------------------------------------------------------------------------------------
def test_health_and_info(client) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    info = client.get("/api/info").json()
    assert "gradcam++" in info["methods"]
    assert info["default_method"] in info["methods"]
    assert info["max_upload_bytes"] == 20 * 1024 * 1024


def test_index_page_has_no_external_assets(client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'id="file-input"' in page.text and 'id="method"' in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        r = client.get(asset)
        assert r.status_code == 200, asset
        assert "http://" not in r.text and "https://" not in r.text
    assert "http://" not in page.text and "https://" not in page.text


def test_openapi_documents_the_routes(client) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/map", "/health"} <= set(schema["paths"])
    props = schema["components"]["schemas"]["MapResult"]["properties"]
    assert {"probability", "overlay", "mask", "cam_overlay", "probability_overlay", "headline", "measurements"} <= set(
        props
    )
    assert "csv" in props and "border_artefacts" in props
    assert "probability" in schema["components"]["schemas"]["PredictResult"]["properties"]
    body = schema["paths"]["/api/map"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "$ref" in body or "properties" in body


def test_exposure_needs_a_run_that_measured_its_range(client, crack_png: bytes) -> None:
    assert client.get("/api/info").json()["exposure_available"] is False  # a trained run, not a fitted one
    r = post(client, "/api/map", "crack.png", crack_png, exposure="true")
    assert r.status_code == 422 and "no measured exposure range" in r.json()["detail"]
    assert post(client, "/api/map", "crack.png", crack_png).json()["exposure"] is False


def test_join_faint_is_off_by_default_and_returned(client, crack_png: bytes) -> None:
    assert post(client, "/api/map", "crack.png", crack_png).json()["join_faint"] is False
    r = post(client, "/api/map", "crack.png", crack_png, join_faint="true")
    assert r.status_code == 200, r.text
    assert r.json()["join_faint"] is True


def test_predict_returns_probability_and_heatmap(client, crack_png: bytes) -> None:
    r = post(client, "/api/predict", "crack.png", crack_png, method="gradcam")
    assert r.status_code == 200, r.text
    out = r.json()
    assert 0.0 <= out["probability"] <= 1.0
    assert out["label"] == "cracked"  # the eager run's threshold is 0
    assert out["method"] == "gradcam" and out["filename"] == "crack.png"
    assert (out["width"], out["height"]) == (96, 96)
    overlay = decode_data_url(out["heatmap_overlay"])
    assert overlay.ndim == 3 and overlay.shape[0] == overlay.shape[1] >= 96


def test_map_returns_images_measurements_and_csv(client, crack_jpeg: bytes) -> None:
    r = post(client, "/api/map", "photo.jpg", crack_jpeg, "image/jpeg", mm_per_px="0.5")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["mm_per_px"] == 0.5
    keys = ("original", "cam_overlay", "probability_overlay", "mask", "overlay")
    shapes = {key: decode_data_url(out[key]).shape[:2] for key in keys}
    assert len(set(shapes.values())) == 1, shapes
    mask = decode_data_url(out["mask"])
    assert out["crack_pixels"] > 0 and mask.any()
    assert out["n_cracks"] == len(out["measurements"]) >= 1
    first = out["measurements"][0]
    assert first["length_px"] > 0
    assert first["length_mm"] == pytest.approx(first["length_px"] * 0.5)
    lines = out["csv"].strip().splitlines()
    assert lines[0].startswith("filename,crack_id,length_px")
    assert len(lines) == 1 + out["n_cracks"]
    assert lines[1].startswith("photo.jpg,1,")


def test_map_headline_sums_the_measurements(client, crack_jpeg: bytes) -> None:
    from crackscope.maps.measure import CrackMeasurement, summarize_cracks

    plain = post(client, "/api/map", "photo.jpg", crack_jpeg, "image/jpeg").json()
    scaled = post(client, "/api/map", "photo.jpg", crack_jpeg, "image/jpeg", mm_per_px="0.5").json()
    for out, scale in ((plain, None), (scaled, 0.5)):
        cracks = [CrackMeasurement.from_dict(m) for m in out["measurements"]]
        expected = summarize_cracks(cracks, mm_per_px=scale).as_dict()
        assert out["headline"] == pytest.approx(expected)
        assert out["headline"]["n_cracks"] == out["n_cracks"] >= 1
    lengths = [m["length_px"] for m in plain["measurements"]]
    assert plain["headline"]["total_length_px"] == pytest.approx(sum(lengths))
    assert plain["headline"]["max_width_px"] == max(m["max_width_px"] for m in plain["measurements"])
    assert plain["headline"]["unit"] == "px" and plain["headline"]["total_length_mm"] is None
    assert scaled["headline"]["unit"] == "mm"
    assert scaled["headline"]["total_length_mm"] == pytest.approx(0.5 * plain["headline"]["total_length_px"])
    assert scaled["headline"]["mean_width_mm"] == pytest.approx(0.5 * plain["headline"]["mean_width_px"])


@pytest.mark.parametrize("method", ["gradcam", "layercam"])
def test_map_shows_the_cam_of_the_chosen_method(client, crack_photo: np.ndarray, method: str) -> None:
    from crackscope.cam.overlay import resize_map
    from crackscope.report import render
    from crackscope.serve.service import _display

    out = post(client, "/api/map", "crack.png", encode(crack_photo), method=method).json()
    assert out["method"] == method
    result = client.app.state.analyzer._mapper(method).map_image(crack_photo)
    assert result.cam is not None  # the eager run's recipe refines the class map
    shown = _display(crack_photo)

    def drawn(values: np.ndarray) -> np.ndarray:
        return render.heatmap_overlay(shown, resize_map(values, shown.shape[:2]))

    np.testing.assert_array_equal(decode_data_url(out["cam_overlay"]), drawn(result.cam))
    np.testing.assert_array_equal(decode_data_url(out["probability_overlay"]), drawn(result.probability))


def test_a_new_scale_measures_again_without_mapping_again(client, crack_png: bytes, monkeypatch) -> None:
    first = post(client, "/api/map", "crack.png", crack_png, mm_per_px="0.5").json()
    analyzer = client.app.state.analyzer

    def no_mapping(method: str):
        raise AssertionError("the photo was mapped again")

    monkeypatch.setattr(analyzer, "_mapper", no_mapping)
    again = post(client, "/api/map", "renamed.png", crack_png, mm_per_px="0.25")
    assert again.status_code == 200, again.text
    second = again.json()
    for key in ("original", "cam_overlay", "mask", "overlay", "crack_pixels", "n_cracks", "probability"):
        assert second[key] == first[key], key
    assert second["filename"] == "renamed.png" and second["csv"].splitlines()[1].startswith("renamed.png,1,")
    for a, b in zip(first["measurements"], second["measurements"], strict=True):
        assert b["length_px"] == a["length_px"] and b["length_mm"] == pytest.approx(a["length_mm"] / 2)
    assert second["headline"]["total_length_mm"] == pytest.approx(first["headline"]["total_length_mm"] / 2)


def test_grayscale_and_rgba_uploads_work(client, crack_photo: np.ndarray) -> None:
    gray = encode(crack_photo[..., 0])
    rgba = encode(np.dstack([crack_photo, np.full(crack_photo.shape[:2], 255, np.uint8)]))
    color = post(client, "/api/predict", "color.png", encode(crack_photo)).json()
    for name, data in (("gray.png", gray), ("rgba.png", rgba)):
        r = post(client, "/api/predict", name, data)
        assert r.status_code == 200, (name, r.text)
        out = r.json()
        assert out["filename"] == name and (out["width"], out["height"]) == (96, 96)
        assert 0.0 <= out["probability"] <= 1.0 and out["label"] == "cracked"  # the eager run's threshold is 0
        assert decode_data_url(out["heatmap_overlay"]).ndim == 3  # drawn as RGB
    # an opaque alpha channel changes nothing: the same pixels, the same answer as the RGB photo
    assert post(client, "/api/predict", "rgba.png", rgba).json()["probability"] == pytest.approx(color["probability"])


def test_large_photo_is_tiled_and_shown_shrunk(client) -> None:
    from crackscope.data.synth import generate_pair

    image, _ = generate_pair(np.random.default_rng(5), 160, cracked=True)
    wide = np.concatenate([image, image[:, ::-1]], axis=1)  # 160 x 320
    out = post(client, "/api/map", "wide.png", encode(wide)).json()
    assert (out["width"], out["height"]) == (320, 160)
    assert out["tiles"] > 1
    assert decode_data_url(out["overlay"]).shape[1] / decode_data_url(out["overlay"]).shape[0] == 2


# -- bad input: clear 4xx, never 500 ---------------------------------------------------------------------
def test_empty_file(client) -> None:
    r = post(client, "/api/map", "empty.png", b"")
    assert r.status_code == 422
    assert "empty" in r.json()["detail"]


def test_text_file_named_jpg(client) -> None:
    r = post(client, "/api/map", "notes.jpg", b"these are my notes, not a photo\n" * 10, "image/jpeg")
    assert r.status_code == 415
    detail = r.json()["detail"]
    assert "notes.jpg" in detail and "not a supported image" in detail


def test_truncated_jpeg(client, crack_jpeg: bytes) -> None:
    r = post(client, "/api/predict", "cut.jpg", crack_jpeg[: len(crack_jpeg) // 2], "image/jpeg")
    assert r.status_code == 422
    assert "truncated" in r.json()["detail"]


def test_corrupt_png_body(client, crack_png: bytes) -> None:
    damaged = crack_png[:60] + bytes(200) + crack_png[260:]
    r = post(client, "/api/map", "bad.png", damaged)
    assert r.status_code == 422, r.text
    assert "bad.png" in r.json()["detail"]


def test_decompression_bomb_header(client) -> None:
    # 100000 x 100000 claimed in a few hundred bytes: rejected from the header, nothing decoded.
    r = post(client, "/api/map", "bomb.png", png_header_only(100_000, 100_000))
    assert r.status_code == 413
    assert "megapixels, above the limit of 50.0 megapixels" in r.json()["detail"]


def test_image_over_the_pixel_limit(client) -> None:
    r = post(client, "/api/predict", "big.png", png_header_only(10_000, 6_000))  # 60 MP > 50 MP
    assert r.status_code == 413
    assert "image is 10000x6000 = 60.0 megapixels, above the limit of 50.0 megapixels" in r.json()["detail"]


def test_tiny_image(client) -> None:
    r = post(client, "/api/predict", "dot.png", encode(np.zeros((2, 2, 3), np.uint8)))
    assert r.status_code == 422
    assert "smaller than 8 px on a side" in r.json()["detail"]
    one_row = post(client, "/api/predict", "row.png", encode(np.zeros((1, 6000, 3), np.uint8)))
    assert one_row.status_code == 422 and "image is 6000x1, smaller than 8 px" in one_row.json()["detail"]


def test_api_reads_a_phone_photo_as_the_cli_does(client, crack_photo: np.ndarray, tmp_path: Path) -> None:
    # EXIF orientation 6 (a phone held upright): both the API and the CLI's reader turn it upright.
    from crackscope.io import read_image
    from crackscope.serve.uploads import decode_upload

    stored = crack_photo[:, :64]  # 96 high, 64 wide as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    (tmp_path / "phone.jpg").write_bytes(data)
    cli = read_image(tmp_path / "phone.jpg")
    assert cli.shape == (64, 96, 3)  # upright: 96 wide, 64 high
    assert np.array_equal(decode_upload(data, filename="phone.jpg"), cli)
    r = post(client, "/api/map", "phone.jpg", data, "image/jpeg")
    assert r.status_code == 200, r.text
    assert (r.json()["width"], r.json()["height"]) == (96, 64)


def test_nan_float_tiff_and_gif_uploads(client, crack_photo: np.ndarray) -> None:
    values = np.full((16, 16), 0.5, np.float32)
    values[3, 3] = np.nan
    r = post(client, "/api/predict", "nan.tif", encode(values, "TIFF"), "image/tiff")
    assert r.status_code == 422 and "NaN or infinite" in r.json()["detail"]
    gif = post(client, "/api/predict", "crack.gif", encode(crack_photo, "GIF"), "image/gif")
    assert gif.status_code == 200, gif.text
    assert (gif.json()["width"], gif.json()["height"]) == (96, 96)


def test_small_limits_of_a_configured_app(eager_run: Path, crack_png: bytes) -> None:
    from fastapi.testclient import TestClient

    from crackscope.serve.app import create_app

    with TestClient(create_app(eager_run, max_upload_bytes=4000, max_pixels=50 * 50)) as c:
        info = c.get("/api/info").json()
        too_many_pixels = post(c, "/api/map", "small.png", encode(np.zeros((60, 60, 3), np.uint8)))
        assert too_many_pixels.status_code == 413
        detail = too_many_pixels.json()["detail"]
        assert detail.startswith("small.png:") and "60x60" in detail and "above the limit of" in detail
        too_big = post(c, "/api/map", "crack.png", crack_png + bytes(10_000))
        assert too_big.status_code == 413
        assert "limit" in too_big.json()["detail"]
        fits = post(c, "/api/map", "fits.png", encode(np.zeros((40, 40, 3), np.uint8)))
    assert info["max_upload_bytes"] == 4000
    assert fits.status_code == 200, fits.text  # under both limits: mapped
    assert fits.json()["filename"] == "fits.png" and (fits.json()["width"], fits.json()["height"]) == (40, 40)


def test_bad_options_and_missing_file(client, crack_png: bytes) -> None:
    r = post(client, "/api/map", "crack.png", crack_png, method="nonsense")
    assert r.status_code == 422 and "unknown method" in r.json()["detail"]
    for scale in ("abc", "-1", "0", "inf"):
        r = post(client, "/api/map", "crack.png", crack_png, mm_per_px=scale)
        assert r.status_code == 422, scale
        assert "mm_per_px" in r.json()["detail"]
    r = client.post("/api/map", data={"method": "gradcam"})
    assert r.status_code == 422
    assert "file" in r.json()["detail"]


# -- several requests at once ------------------------------------------------------------------------------
def test_concurrent_requests_all_succeed(client, crack_png: bytes, crack_jpeg: bytes) -> None:
    jobs = [("/api/map", "a.png", crack_png, "image/png"), ("/api/predict", "b.jpg", crack_jpeg, "image/jpeg")] * 4

    def send(job):
        route, name, data, mime = job
        return post(client, route, name, data, mime)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(send, jobs))
    assert [r.status_code for r in results] == [200] * len(jobs)
    assert [r.json()["filename"] for r in results] == [name for _, name, _, _ in jobs]  # each its own answer
    probs = {round(r.json()["probability"], 6) for r in results if r.json()["filename"] == "b.jpg"}
    assert len(probs) == 1  # the same photo gives the same answer under concurrency
    maps = {(r.json()["crack_pixels"], r.json()["n_cracks"]) for r in results if r.json()["filename"] == "a.png"}
    assert len(maps) == 1


def test_damaged_files_never_give_a_server_error(client, crack_png: bytes, crack_jpeg: bytes) -> None:
    rng = np.random.default_rng(1)
    variants = []
    for data in (crack_png, crack_jpeg):
        for cut in (8, 20, 40, 100, len(data) - 10):
            variants.append(data[:cut])
        for _ in range(4):
            damaged = bytearray(data)
            at = rng.integers(4, len(data), 8)
            damaged[at[0] : at[0] + 1] = b""  # a byte lost
            for i in at[1:]:
                damaged[i] ^= 0xFF
            variants.append(bytes(damaged))
    variants.append(b"\x89PNG\r\n\x1a\n" + rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    variants.append(b"\xff\xd8\xff" + rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    responses = [post(client, "/api/predict", f"v{i}.bin", v) for i, v in enumerate(variants)]
    statuses = [r.status_code for r in responses]
    assert all(s in (200, 413, 415, 422) for s in statuses), statuses
    assert statuses.count(422) >= 5
    for i, r in enumerate(responses):
        if r.status_code == 200:  # damage the decoder tolerates: a real answer
            assert r.json()["filename"] == f"v{i}.bin" and 0.0 <= r.json()["probability"] <= 1.0
        else:  # a refusal that names the file and says why, never a stack trace
            detail = r.json()["detail"]
            assert detail.startswith(f"v{i}.bin: "), detail
            assert "Traceback" not in detail and "internal error" not in detail


def test_no_cdn_backed_docs_pages(client) -> None:
    # Swagger UI / ReDoc would fetch scripts from a CDN; the schema is served locally instead.
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 404
        assert r.json() == {"detail": "Not Found"}
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.") and "/api/map" in schema.json()["paths"]
