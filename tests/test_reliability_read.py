"""Reading: every form of input gets one prediction (issue 19, items 3–7 and 11).

With the shipped default model (Spotter only, for speed) and a real demo crop.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mstr
import mstr.cli.main as cli_main
from mstr.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
CROP = ROOT / "samples" / "demo" / "real" / "1017_2.png"


@pytest.fixture(scope="module")
def rec():
    return mstr.load(None, refiner=False)


@pytest.fixture(scope="module")
def expected(rec):
    pred = rec.read([str(CROP)])[0]
    assert pred.text and pred.error is None
    return pred.text


def _rgb() -> Image.Image:
    return Image.open(CROP).convert("RGB")


# ---- item 3: any form of input, no lost batch --------------------------------------------------

def test_a_single_string_is_one_path_not_characters(rec, expected):
    preds = rec.read(str(CROP))
    assert len(preds) == 1 and preds[0].text == expected


def test_every_form_of_one_image_reads_the_same(rec, expected):
    arr = np.array(_rgb())
    forms = {
        "Path": CROP,
        "PIL": Image.open(CROP),
        "bytes": CROP.read_bytes(),
        "numpy HWC uint8": arr,
        "numpy HW gray float": np.asarray(_rgb().convert("L"), dtype=np.float32) / 255.0,
        "tensor CHW float": torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0,
    }
    for name, item in forms.items():
        single = rec.read(item)
        assert len(single) == 1 and single[0].error is None, name
        assert single[0].text == expected, name
    listed = rec.read(x for x in forms.values())  # a generator of all of them
    assert [p.text for p in listed] == [expected] * len(forms)


def test_bad_items_get_errors_and_the_rest_of_the_batch_is_read(rec, expected):
    items = [str(CROP), None, 42, np.zeros((2, 3, 5, 7)), str(CROP), np.zeros((0, 5), np.uint8),
             np.full((8, 8), 300.0), b"", str(CROP)]
    preds = rec.read(items, batch_size=2)
    assert len(preds) == len(items)
    assert [p.text for p in preds[::4]] == [expected] * 3
    for i in (1, 2, 3, 5, 6, 7):
        assert preds[i].error and preds[i].text == "" and f"image {i}" in preds[i].error, (i, preds[i])
    assert "None" in preds[1].error and "int" in preds[2].error and "shape" in preds[3].error
    assert "zero size" in preds[5].error and "[0, 1]" in preds[6].error and "empty" in preds[7].error


def test_a_batch_of_images_as_one_4d_array(rec, expected):
    arr = np.stack([np.asarray(_rgb())] * 3)
    assert [p.text for p in rec.read(arr)] == [expected] * 3


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_batch_size_must_be_positive(rec, bad):
    with pytest.raises(UserError, match="batch_size"):
        rec.read([str(CROP)], batch_size=bad)


def test_none_or_an_object_as_the_whole_argument_is_a_user_error(rec):
    with pytest.raises(UserError, match="None"):
        rec.read(None)
    with pytest.raises(UserError, match="cannot read a object"):
        rec.read(object())


# ---- item 4: PIL images get the same clean-up as files -----------------------------------------

def _same_as_file(tmp_path, image: Image.Image, name: str, **save) -> tuple[np.ndarray, np.ndarray]:
    from mstr.images import load_image
    from mstr.inputs import to_image

    path = tmp_path / name
    image.save(path, **save)
    return np.asarray(to_image(Image.open(path), "pil")), np.asarray(load_image(path))


def test_transparent_logo_given_as_pil_is_composited_on_white(tmp_path):
    logo = Image.new("RGBA", (60, 20), (0, 0, 0, 0))
    logo.paste((20, 20, 20, 255), (10, 5, 50, 15))
    from_pil, from_file = _same_as_file(tmp_path, logo, "logo.png")
    assert np.array_equal(from_pil, from_file)
    assert from_pil[0, 0].tolist() == [255, 255, 255]  # transparent → white, not black


def test_16bit_pil_is_scaled_like_the_file(tmp_path):
    gray = Image.fromarray((np.arange(40 * 20).reshape(20, 40) * 80).astype(np.uint16))
    from_pil, from_file = _same_as_file(tmp_path, gray, "g16.png")
    assert np.array_equal(from_pil, from_file) and from_pil.max() > 200


def test_exif_rotated_pil_is_turned_like_the_file(tmp_path):
    photo = Image.new("RGB", (40, 10), "white")
    photo.paste((0, 0, 0), (0, 0, 5, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    from_pil, from_file = _same_as_file(tmp_path, photo, "rot.jpg", exif=exif)
    assert from_pil.shape == from_file.shape == (40, 10, 3)
    assert np.array_equal(from_pil, from_file)


def test_zero_size_pil_is_an_error_not_a_reading(rec):
    pred = rec.read([Image.new("RGB", (0, 0))])[0]
    assert pred.error and "zero size" in pred.error


def test_32bit_tiff_holding_8bit_values_is_not_darkened(tmp_path):
    from mstr.images import load_image

    values = np.tile(np.arange(0, 250, 10, dtype=np.int32), (10, 1))
    path = tmp_path / "i32.tif"
    Image.fromarray(values, mode="I").save(path)
    out = np.asarray(load_image(path))[..., 0]
    assert np.array_equal(out, values.astype(np.uint8))


# ---- item 5: blank images are "no text" ---------------------------------------------------------

@pytest.mark.parametrize("size", [(1, 1), (1, 5000), (5000, 1), (7000, 7000)])
def test_blank_images_are_no_text(rec, tmp_path, size):
    path = tmp_path / "blank.png"
    Image.new("RGB", size, "white").save(path)
    pred = rec.read([path])[0]
    assert pred.no_text and pred.text == "" and pred.error is None and pred.script is None


def test_a_word_next_to_blanks_is_still_read(rec, expected):
    preds = rec.read([Image.new("RGB", (30, 10), "black"), str(CROP)])
    assert preds[0].no_text and preds[1].text == expected and not preds[1].no_text


# ---- item 11: decoding streams a batch at a time ------------------------------------------------

def test_read_decodes_one_batch_at_a_time(monkeypatch):
    import mstr.inputs as inputs
    from mstr.reading.prediction import Prediction

    decoded = []
    real = inputs.to_image
    monkeypatch.setattr(inputs, "to_image", lambda item, source: decoded.append(source) or real(item, source))
    seen = []

    def read_tensor(x):
        seen.append((len(decoded), x.shape[0]))
        return [Prediction(text="x", confidence=1.0, script=None)] * x.shape[0]

    preds = inputs.read_images([str(CROP)] * 7, (32, 128), read_tensor, batch_size=3)
    assert len(preds) == 7 and seen == [(3, 3), (6, 3), (7, 1)]


# ---- items 6 and 7: the command line ------------------------------------------------------------

def _mstr(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mstr", *args], capture_output=True, text=True, **kwargs)


@pytest.mark.parametrize("device, words", [("gpu", "unknown device"), ("cuda:7", "cuda"), ("banana", "unknown")])
def test_bad_device_is_one_line(device, words, capsys):
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 7:
        pytest.skip("this machine has the device")
    assert cli_main.main(["read", str(CROP), "--device", device]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err


def test_workers_above_the_cores_are_capped_with_a_note(capsys):
    from mstr.reading.parallel import cpu_cores, fit_workers

    n, note = fit_workers(cpu_cores() + 14)
    assert n == cpu_cores() and "CPU core" in note
    assert fit_workers(4, items=1)[0] == 1
    assert cli_main.main(["read", str(CROP), "--workers", str(cpu_cores() + 14), "--no-refiner"]) == 0
    out, err = capsys.readouterr()
    assert "CPU core" in err and len(out.splitlines()) == 1  # one image: one process, read at once


def test_json_has_a_record_per_input_with_the_error(tmp_path, capsys):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.png"
    Image.new("L", (20, 20), 128).save(blank)
    args = [str(CROP), str(empty), str(tmp_path / "missing.png"), str(blank), str(CROP)]
    assert cli_main.main(["read", "--json", "--no-refiner", *args]) == 1
    out, err = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == args
    assert [r["error"] is not None for r in records] == [False, True, True, False, False]
    assert "empty.png" in records[1]["error"] and "missing.png" in records[2]["error"]
    assert records[3]["no_text"] and records[0]["text"] == records[4]["text"] != ""
    assert len(err.splitlines()) == 2


def test_closed_pipe_ends_quietly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "mstr", "read", "--no-refiner", "--batch-size", "1",
                             *[str(CROP)] * 300], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    _, err = proc.communicate(timeout=120)
    assert first.startswith(str(CROP).encode())
    assert proc.returncode == 141 and b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()[-2000:]


def test_read_to_bytes_helper_roundtrip():
    """bytes made in memory (e.g. from a web upload) read like the file."""
    buffer = io.BytesIO()
    _rgb().save(buffer, format="JPEG", quality=95)
    from mstr.inputs import to_image

    assert to_image(buffer.getvalue(), "upload").size == _rgb().size
