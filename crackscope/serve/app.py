"""The web app: a page to upload photos and a JSON API (``/api/predict``, ``/api/map``, ``/health``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from crackscope.errors import CrackscopeError
from crackscope.maps.recipe import MapRecipe
from crackscope.serve.uploads import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_BYTES, UploadError, decode_upload, format_mb

STATIC_DIR = Path(__file__).parent / "static"
# Multipart framing and form fields on top of the file itself.
_FORM_OVERHEAD = 64 * 1024


class Health(BaseModel):
    status: str = Field(description="`ok` when the model is loaded")
    run: str
    kind: str


class RunInfo(BaseModel):
    run: str = Field(description="name of the run folder")
    kind: str = Field(description="`classifier` or `restorer`")
    model: str
    image_size: int | None = Field(description="model input size in pixels")
    threshold: float = Field(description="decision threshold on the crack probability")
    methods: list[str] = Field(description="explanation methods the API accepts")
    default_method: str
    preset: str = Field(description="the map recipe `/api/map` uses (`crackscope presets` lists them)")
    exposure_available: bool = Field(
        description="whether `/api/map` can map a dark, washed-out or flat photo within the run's exposure range"
    )
    max_upload_bytes: int
    max_pixels: int


class PredictResult(BaseModel):
    filename: str
    probability: float = Field(description="crack probability of the whole image (sigmoid of the logit)")
    threshold: float
    label: str = Field(description="`cracked` or `uncracked` at the run's threshold")
    method: str
    layer: str = Field(description="target layer of the class-activation map")
    flags: list[str] = Field(description="warnings about the map (`all-zero`, `non-finite`)")
    width: int
    height: int
    heatmap: str = Field(description="the class-activation map as a PNG data URL (jet colormap)")
    heatmap_overlay: str = Field(description="the map blended over the photo, PNG data URL")


class Headline(BaseModel):
    """The photo's cracks in four numbers (``crackscope.maps.measure.summarize_cracks``)."""

    n_cracks: int
    total_length_px: float = Field(description="sum of the cracks' lengths along their centre lines")
    max_width_px: float = Field(description="the largest width of any crack")
    mean_width_px: float = Field(description="length-weighted mean of the cracks' mean widths")
    total_length_mm: float | None = Field(description="in millimetres, when mm_per_px is given")
    max_width_mm: float | None
    mean_width_mm: float | None
    n_photos: int
    unit: str = Field(description="`mm` when the millimetre fields are set, else `px`")


class MapResult(BaseModel):
    filename: str
    probability: float | None = Field(
        description="crack probability of the photo (highest tile probability); null for restorer "
        "(UP-CrackNet) runs, which have none: their label is cracked when any crack pixel is found"
    )
    threshold: float
    label: str
    method: str
    exposure: bool = Field(description="whether the photo was mapped within the run's exposure range")
    join_faint: bool = Field(description="whether a crack's faint stretches were joined to it")
    mm_per_px: float | None = Field(description="scale used for the millimetre columns, if given")
    width: int
    height: int
    crack_pixels: int
    n_cracks: int
    border_artefacts: int = Field(
        description="components along the photo border (edge strips, dark frames) left out of the mask"
    )
    headline: Headline = Field(description="number of cracks, total length, largest and mean width")
    tiles: int = Field(description="number of tiles the photo was mapped in")
    preset: str = Field(description="the map recipe the mask was made with")
    original: str = Field(description="the photo (shrunk to at most 1600 px for display), PNG data URL")
    cam_overlay: str | None = Field(
        description="the class-activation map of `method` over the photo, PNG data URL; null for restorer runs"
    )
    probability_overlay: str | None = Field(
        description="the refined crack probability map the mask was cut from, over the photo; null when the "
        "mask was cut from the class-activation map itself"
    )
    mask: str = Field(description="the crack mask (white = crack), PNG data URL")
    overlay: str = Field(description="cracks outlined and numbered over the photo, PNG data URL")
    measurements: list[dict[str, Any]] = Field(
        description="one entry per crack: id, length, mean/max width, orientation, bounding box "
        "(y0, x0, y1, x1; exclusive ends), area (pixels, and millimetres when mm_per_px is given)"
    )
    csv: str = Field(description="the measurements as CSV text (one row per crack)")


class ErrorMessage(BaseModel):
    detail: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorMessage, "description": "file or image too large"},
    415: {"model": ErrorMessage, "description": "not a supported image type (checked by content)"},
    422: {"model": ErrorMessage, "description": "empty, corrupt or truncated image, or a bad option"},
}


def create_app(
    run_dir: str | Path = "builtin",
    *,
    preset: MapRecipe | str | None = None,
    max_upload_bytes: int | None = None,
    max_pixels: int | None = None,
    device: str = "auto",
) -> FastAPI:
    """A FastAPI app serving the run in ``run_dir`` (default: the bundled run) with the map recipe ``preset``
    (default: the run's own) on ``device``; limits default to env vars or 20 MB / 50 MP."""
    from crackscope.serve.service import Analyzer

    max_upload_bytes = int(
        max_upload_bytes or os.environ.get("CRACKSCOPE_MAX_UPLOAD_BYTES") or DEFAULT_MAX_UPLOAD_BYTES
    )
    max_pixels = int(max_pixels or os.environ.get("CRACKSCOPE_MAX_PIXELS") or DEFAULT_MAX_PIXELS)
    if max_upload_bytes <= 0 or max_pixels <= 0:
        raise ValueError("max_upload_bytes and max_pixels must be positive")
    analyzer = Analyzer(run_dir, preset=preset, device=device)

    app = FastAPI(
        title="crackscope",
        description="Find, map and measure cracks in photos with an explainable CNN. Upload an image in the "
        "multipart field `file`; images come back as base64 PNG data URLs.",
        version=_version(),
        # Swagger UI and ReDoc load their scripts from a CDN: left out so nothing is fetched from outside.
        # The schema itself is at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.analyzer = analyzer
    app.state.max_upload_bytes = max_upload_bytes
    app.state.max_pixels = max_pixels

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        too_big = length is not None and length.isdigit() and int(length) > max_upload_bytes + _FORM_OVERHEAD
        if request.method == "POST" and too_big:
            size, limit = format_mb(int(str(length))), format_mb(max_upload_bytes)
            return JSONResponse(
                status_code=413, content={"detail": f"request is {size}, above the {limit} upload limit"}
            )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
        return JSONResponse(status_code=422, content={"detail": "bad request: " + "; ".join(parts)})

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not a bad file (bad files get 4xx above): still answer in JSON, without a traceback.
        import logging

        logging.getLogger("crackscope.serve").exception("unexpected error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"detail": f"internal error ({type(exc).__name__})"})

    async def read_upload(file: UploadFile) -> tuple[str, bytes]:
        name = Path(file.filename or "upload").name
        data = await file.read(max_upload_bytes + 1)
        return name, data

    def decode(name: str, data: bytes) -> Any:
        try:
            return decode_upload(data, filename=name, max_bytes=max_upload_bytes, max_pixels=max_pixels)
        except UploadError as exc:
            raise HTTPException(status_code=exc.status_code, detail=exc.message) from None

    def run_model(fn: Callable[..., dict[str, Any]], filename: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return fn(*args, **kwargs)
        except (CrackscopeError, ValueError) as exc:
            raise HTTPException(status_code=422, detail=f"{filename}: {exc}") from None

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/health", response_model=Health, summary="Liveness check")
    def health() -> Health:
        return Health(status="ok", run=analyzer.run_dir.name, kind=analyzer.kind)

    @app.get("/api/info", response_model=RunInfo, summary="The loaded run, its methods and the upload limits")
    def info() -> RunInfo:
        return RunInfo(**analyzer.info(), max_upload_bytes=max_upload_bytes, max_pixels=max_pixels)

    @app.post("/api/predict", response_model=PredictResult, responses=_ERRORS, summary="Classify one photo")
    async def predict(
        file: UploadFile = File(..., description="the photo (PNG, JPEG, BMP, TIFF or WebP)"),
        method: str | None = Form(None, description="explanation method, e.g. gradcam++"),
    ) -> PredictResult:
        name, data = await read_upload(file)
        image = decode(name, data)
        result = await _in_thread(run_model, analyzer.predict, name, image, method=method)
        return PredictResult(filename=name, **result)

    @app.post("/api/map", response_model=MapResult, responses=_ERRORS, summary="Map and measure the cracks")
    async def map_photo(
        file: UploadFile = File(..., description="the photo (PNG, JPEG, BMP, TIFF or WebP)"),
        method: str | None = Form(None, description="explanation method, e.g. gradcam++"),
        mm_per_px: str | None = Form(None, description="millimetres per pixel, for lengths and widths in mm"),
        exposure: bool = Form(
            False, description="map a dark, washed-out or flat photo within the run's exposure range (see /api/info)"
        ),
        join_faint: bool = Form(
            False,
            description="on a surface the run was not fitted on: keep a crack's fainter stretches, down to a quarter "
            "of the mask threshold, where they join it (as `crackscope map --join-faint 0.25`)",
        ),
    ) -> MapResult:
        name, data = await read_upload(file)
        scale = _parse_scale(mm_per_px)
        image = decode(name, data)
        result = await _in_thread(
            run_model,
            analyzer.map,
            name,
            image,
            method=method,
            mm_per_px=scale,
            name=name,
            exposure=exposure,
            join_faint=join_faint,
        )
        return MapResult(filename=name, **result)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run blocking model work in the thread pool so the server keeps answering (the model has its lock)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args, **kwargs)


def _parse_scale(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"mm_per_px must be a number, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise HTTPException(status_code=422, detail=f"mm_per_px must be a positive number, got {text!r}")
    return value


def _version() -> str:
    import crackscope

    return str(getattr(crackscope, "__version__", "0"))
