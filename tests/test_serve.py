"""mstr serve's JSON API (FastAPI TestClient, a stub reader): reading, limits and refusals, one
shared reader, and the web stack kept out of the inference import path."""
from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
from conftest import png
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed: make setup")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mstr.photo import PhotoReading, PhotoWord  # noqa: E402
from mstr.reading.prediction import Prediction  # noqa: E402
from mstr.serve import create_app  # noqa: E402


class StubReader:
    """Reads every word crop as "crop" and every photo as two words; counts its calls."""

    name, langs = "stub", ["en", "hi"]

    def __init__(self):
        self.words = self.photos = 0
        self.hints: list = []

    def read(self, images, batch_size=64, **hint):
        self.words += len(images)
        self.hints.append(hint.get("langs"))
        return [Prediction(text="crop", confidence=0.8, script="Latn") for _ in images]

    def read_photo(self, image, **hint):
        self.photos += 1
        self.hints.append(hint.get("langs"))
        words = [PhotoWord(polygon=[(10, 10), (60, 10), (60, 30), (10, 30)], text=t, confidence=0.7,
                           script="Latn", line=0) for t in ("open", "shop")]
        return PhotoReading(width=image.width, height=image.height, words=words)


@pytest.fixture()
def client():
    reader = StubReader()
    return TestClient(create_app(reader, max_bytes=1_000_000, max_pixels=1_000_000)), reader


def test_read_word_crop_and_photo(client):
    c, reader = client
    r = c.post("/read", files={"file": ("w.png", png(200, (120, 40)), "image/png")})
    assert r.status_code == 200
    body = r.json()
    assert body["mode"] == "word" and [w["text"] for w in body["words"]] == ["crop"]
    assert body["overlay"].startswith("data:image/png;base64,")
    r = c.post("/read?overlay=false", files={"file": ("p.png", png(200, (800, 600)), "image/png")})
    body = r.json()
    assert body["mode"] == "photo" and body["text"] == "open shop" and body["overlay"] is None
    assert body["words"][0]["polygon"] == [[10, 10], [60, 10], [60, 30], [10, 30]]
    r = c.post("/read?mode=photo&overlay=false", files={"file": ("w.png", png(200, (120, 40)), "image/png")})
    assert r.json()["mode"] == "photo"
    assert (reader.words, reader.photos) == (1, 2)  # one shared reader, no reload


def test_language_hint_reaches_the_reader_and_unknown_codes_are_422(client):
    c, reader = client
    assert c.post("/read?langs=hi", files={"file": ("w.png", png(200, (120, 40)), "image/png")}).status_code == 200
    assert c.post("/read?mode=photo&langs=en,hi", files={"file": ("p.png", png(200, (800, 600)), "image/png")}).status_code == 200
    assert c.post("/read", files={"file": ("w.png", png(200, (120, 40)), "image/png")}).status_code == 200
    assert reader.hints == [["hi"], ["en", "hi"], None]
    r = c.post("/read?langs=xx", files={"file": ("w.png", png(200, (120, 40)), "image/png")})
    assert r.status_code == 422 and "xx" in r.json()["detail"] and "en, hi" in r.json()["detail"]
    assert len(reader.hints) == 3  # refused before reading
    assert 'id="langs"' in c.get("/").text


def test_read_photo_passes_the_hint_to_every_word():
    from mstr.photo import read_photo

    class Detector:
        def detect(self, image):
            from mstr.detect import Detection
            return [Detection(polygon=[(10, 10), (200, 10), (200, 50), (10, 50)], score=0.9)]

    calls = []

    class Reader:
        def read(self, images, batch_size=64, **hint):
            calls.append(hint)
            return [Prediction(text="x", confidence=0.9, script="Latn") for _ in images]

    image = Image.new("RGB", (300, 100), 255)
    read_photo(Reader(), image, detector=Detector(), langs=["hi"])
    read_photo(Reader(), image, detector=Detector())
    assert calls == [{"langs": ["hi"]}, {}]


@pytest.mark.parametrize("name,data,status,phrase", [
    ("empty.png", b"", 422, "empty"),
    ("cut.png", png(200, (300, 100))[:60], 422, "corrupt"),
    ("notes.txt", b"just some text\n", 422, "not an image"),
    ("huge.png", png(200, (20000, 20000), "L"), 413, "20000 × 20000"),
    ("wide.png", png(200, (2000, 1000), "L"), 413, "2000 × 1000 = 2 MP, over the 1 MP limit"),
    ("big.bmp", b"BM" + b"\0" * 1_200_000, 413, "over the 977 KiB limit"),
    ("a.bmp", b"BM" + b"\0" * 1_010_000, 413, "the file is larger than the 977 KiB limit"),
], ids=["empty", "truncated", "text", "20000x20000", "over-pixels", "over-bytes", "over-bytes-read"])
def test_bad_uploads_get_a_clear_message(client, name, data, status, phrase):
    c, reader = client
    r = c.post("/read", files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == status
    detail = r.json()["detail"]
    assert phrase in detail and "\n" not in detail
    assert (reader.words, reader.photos) == (0, 0)


def test_missing_file_and_bad_mode_are_422(client):
    c, _ = client
    assert c.post("/read").status_code == 422
    assert c.post("/read?mode=poem", files={"file": ("w.png", png(200, (50, 20)), "image/png")}).status_code == 422


def test_page_docs_and_openapi(client):
    c, _ = client
    page = c.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and 'data-max-bytes="1000000"' in page.text
    docs = c.get("/docs")
    assert docs.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert c.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    spec = c.get("/openapi.json").json()
    assert "/read" in spec["paths"] and "post" in spec["paths"]["/read"]
    assert c.get("/health").json()["max_pixels"] == 1_000_000


def test_inference_does_not_import_the_web_stack():
    code = ("import sys, mstr, mstr.api, mstr.reading.recognizer, mstr.photo, mstr.overlay, mstr.cli.main; "
            "mstr.cli.main.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'uvicorn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
