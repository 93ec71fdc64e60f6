"""``mstr serve``: a web page and a JSON API that read photos and word crops.

::

    mstr serve --port 8000        # then open http://127.0.0.1:8000/

* ``GET /``: one page — upload or drop a photo or a word crop, see the overlay and the words
  with their confidences;
* ``POST /read`` (multipart field ``file``; query ``mode`` = ``auto`` | ``photo`` | ``word``,
  ``overlay`` = true | false): ``{"mode", "width", "height", "words": [{"text", "confidence",
  "script", "line", "polygon", "det_score"}], "text", "overlay", "elapsed_ms"}``; ``overlay`` is a
  PNG data URL (null when not asked for);
* ``GET /docs``: the OpenAPI page (Swagger UI served from the ``swagger-ui-bundle`` wheel, nothing
  from a CDN), ``GET /openapi.json``, ``GET /health``.

Limits: an upload over ``max_bytes`` or an image over ``max_pixels`` gets **413**; an empty
file, a file that is not an image (text, …) or a corrupt one gets **422**; each with ``{"detail":
"<one-line message>"}``, which the page shows. One reader is loaded once and shared; requests
are served concurrently by the server's thread pool, at most ``model_slots`` of them in the
model at a time (the rest wait their turn; nothing is reloaded).

A language hint is the query parameter ``langs`` of ``POST /read`` (comma-separated codes of the
model's languages, e.g. ``langs=hi``: retrieval restricted to those languages plus Common, see
docs/decoding.md); the page offers the model's languages in a picker. An unknown code is a 422.

The web stack (FastAPI, Starlette, uvicorn) is imported only here and by :mod:`mstr.cli.serve`,
never by :func:`mstr.load` or the readers.
"""

import base64
import io
import threading
import time
from importlib import resources
from typing import Any, Literal

from PIL import Image

from mstr.images import BadImage, decode_image

__all__ = ["create_app", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "ReadRefused", "read_upload"]

DEFAULT_MAX_BYTES = 10 * 2**20
DEFAULT_MAX_PIXELS = 40_000_000


class ReadRefused(Exception):
    """An upload refused: ``status`` (413 or 422) and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _bytes(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def _mp(pixels: int) -> str:
    return f"{pixels / 1e6:.0f} MP" if pixels >= 1e6 else f"{pixels:,} pixels"


#: the first bytes of the image formats the server reads
_MAGIC = (b"\x89PNG", b"\xff\xd8", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's header, without decoding it."""
    if data[:4] == b"\x89PNG" and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


def open_upload(data: bytes, name: str, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """The RGB image of an upload, or :class:`ReadRefused` saying what is wrong with it."""
    if len(data) > max_bytes:
        raise ReadRefused(413, f"{name}: the file is larger than the {_bytes(max_bytes)} limit: "
                               "send a smaller or more compressed image")
    if not data:
        raise ReadRefused(422, f"{name}: the file is empty (0 bytes): choose an image file")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            w, h = probe.size
    except Image.DecompressionBombError:
        size = _png_size(data)
        what = f"{size[0]} × {size[1]} = {_mp(size[0] * size[1])}" if size else "far more pixels"
        raise ReadRefused(413, f"{name}: the image is {what}, over the {_mp(max_pixels)} limit: "
                               "scale it down") from None
    except Exception:
        if data.startswith(_MAGIC):
            raise ReadRefused(422, f"{name}: the image is corrupt or truncated: it cannot be decoded") from None
        raise ReadRefused(422, f"{name}: not an image (PNG, JPEG, WebP, BMP, TIFF or GIF expected)") from None
    if w * h > max_pixels:
        raise ReadRefused(413, f"{name}: the image is {w} × {h} = {_mp(w * h)}, over the {_mp(max_pixels)} "
                               "limit: scale it down")
    try:
        return decode_image(data, name, max_pixels=max_pixels)
    except BadImage as exc:
        raise ReadRefused(422, f"{name}: {exc.problem}") from None


def read_upload(reader: Any, image: Image.Image, mode: str, overlay: bool,
                langs: str | None = None) -> dict[str, Any]:
    """Read an image as a photo or a word (``mode``), with an optional language hint (``langs``,
    comma-separated codes) → the JSON body of ``POST /read``."""
    from mstr.photo import PhotoReading, PhotoWord, looks_like_word

    start = time.perf_counter()
    from mstr.errors import UserError
    from mstr.reading.lang_decode import parse_lang_hint

    try:  # checked before reading: an unknown code costs no detection
        hint = parse_lang_hint(langs, list(getattr(reader, "langs", []))) if langs else None
    except UserError as exc:
        raise ReadRefused(422, str(exc)) from None
    kwargs = {"langs": list(hint)} if hint else {}
    as_photo = mode == "photo" or (mode == "auto" and not looks_like_word(*image.size))
    if as_photo:
        result = reader.read_photo(image, **kwargs)
    else:
        p = reader.read([image], **kwargs)[0]
        w, h = image.size
        words = [PhotoWord(polygon=[(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))],
                           text=p.text, confidence=float(p.confidence), script=p.script, line=0)] if p.text else []
        result = PhotoReading(width=w, height=h, words=words)
    body = {"mode": "photo" if as_photo else "word", **result.to_dict(), "text": result.text(), "overlay": None}
    if overlay:
        from mstr.overlay import draw_overlay

        buf = io.BytesIO()
        draw_overlay(image, result).save(buf, format="PNG")
        body["overlay"] = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    body["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 1)
    return body


def _page(max_bytes: int, max_pixels: int) -> str:
    """The page, with the limits filled in (the page checks the file size before sending)."""
    html = (resources.files("mstr") / "resources" / "serve" / "index.html").read_text(encoding="utf-8")
    return html.replace("__MAX_BYTES__", str(max_bytes)).replace("__MAX_PIXELS__", str(max_pixels))


def create_app(reader: Any = None, *, bundle: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS, model_slots: int = 2) -> Any:
    """The FastAPI app. ``reader``: a loaded reader (default: ``mstr.load(bundle)``, loaded here,
    once); the text detector is loaded on the first photo and shared as well."""
    from fastapi import FastAPI, File, Query, Request, UploadFile
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles

    if reader is None:
        from mstr.api import load

        reader = load(bundle)
    slots = threading.BoundedSemaphore(max(1, model_slots))
    app = FastAPI(title="mSTR", version=_version(), docs_url=None, redoc_url=None,
                  description="Read the words of a photo or a word crop (English and Indian scripts).")
    app.state.reader = reader
    try:
        import swagger_ui_bundle

        app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")
        have_swagger = True
    except ImportError:
        have_swagger = False

    @app.exception_handler(ReadRefused)
    def refused(_: Request, exc: ReadRefused) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.middleware("http")
    async def cap_upload(request: Request, call_next: Any) -> Any:
        """A body announced as larger than the limit is refused before it is read."""
        length = request.headers.get("content-length")
        if request.url.path == "/read" and length and length.isdigit() and int(length) > max_bytes + 65536:
            return JSONResponse({"detail": f"the upload is {_bytes(int(length))}, over the "
                                           f"{_bytes(max_bytes)} limit: send a smaller image"},
                                status_code=413)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return _page(max_bytes, max_pixels)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": getattr(reader, "name", "mstr"), "langs": list(getattr(reader, "langs", [])),
                "max_bytes": max_bytes, "max_pixels": max_pixels}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if not have_swagger:
            return HTMLResponse("<p>The OpenAPI description is at <a href='/openapi.json'>/openapi.json</a> "
                                "(install swagger-ui-bundle for this page).</p>")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="mSTR API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")

    @app.post("/read", responses={413: {"description": "upload or image too large"},
                                  422: {"description": "empty, not an image, or corrupt"}})
    def read(file: UploadFile = File(..., description="a photo or a word crop (PNG, JPEG, WebP, …)"),
             mode: Literal["auto", "photo", "word"] = Query("auto", description="auto: a photo when the "
                                                             "image is much larger than a word"),
             overlay: bool = Query(True, description="return the overlay PNG as a data URL"),
             langs: str | None = Query(None, description="language hint: comma-separated codes of the "
                                       "model's languages (e.g. hi), retrieval restricted to them + Common")
             ) -> dict[str, Any]:
        """Read every word of an uploaded photo (or the word of a word crop)."""
        data = file.file.read(max_bytes + 1)
        image = open_upload(data, file.filename or "upload", max_bytes=max_bytes, max_pixels=max_pixels)
        with slots:
            return read_upload(reader, image, mode, overlay, langs)

    return app


def _version() -> str:
    from mstr import __version__

    return __version__
