"""decode_image / load_image: every PIL mode to RGB, orientation, and clear BadImage errors."""
from __future__ import annotations


import numpy as np
import pytest
from conftest import encode, png_header_only
from PIL import Image

from mstr.errors import UserError
from mstr.images import BadImage, decode_image, load_image


def test_rgb_passthrough():
    out = decode_image(encode(Image.new("RGB", (5, 3), (10, 20, 30))), "rgb.png")
    assert out.mode == "RGB" and out.size == (5, 3)
    assert out.getpixel((0, 0)) == (10, 20, 30)


def test_grayscale_L():
    out = decode_image(encode(Image.new("L", (4, 4), 7)), "l.png")
    assert out.mode == "RGB" and out.getpixel((1, 1)) == (7, 7, 7)


def test_LA_composited_on_white():
    image = Image.new("LA", (4, 4), (0, 0))  # fully transparent black
    image.putpixel((1, 1), (50, 255))  # opaque dark gray
    out = decode_image(encode(image), "la.png")
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 1)) == (50, 50, 50)


def test_RGBA_composited_on_white():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    image.putpixel((2, 2), (0, 0, 0, 128))  # half-transparent black over white -> mid gray
    image.putpixel((3, 3), (0, 0, 255, 255))
    out = decode_image(encode(image), "rgba.png")
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert all(abs(v - 127) <= 1 for v in out.getpixel((2, 2)))
    assert out.getpixel((3, 3)) == (0, 0, 255)


def test_palette_with_and_without_transparency():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([10, 20, 30, 200, 0, 0] + [0] * 762)
    image.putpixel((1, 1), 1)
    plain = decode_image(encode(image), "p.png")
    assert plain.getpixel((0, 0)) == (10, 20, 30) and plain.getpixel((1, 1)) == (200, 0, 0)
    transparent = decode_image(encode(image, transparency=0), "pt.png")
    assert transparent.mode == "RGB"
    assert transparent.getpixel((0, 0)) == (255, 255, 255)
    assert transparent.getpixel((1, 1)) == (200, 0, 0)


def test_16bit_is_scaled_not_clipped():
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    out = decode_image(encode(image), "16bit.png")
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (0, 0, 0)
    assert out.getpixel((1, 0)) == (128, 128, 128)
    assert out.getpixel((2, 0)) == (255, 255, 255)


def test_32bit_I_with_16bit_range_is_scaled():
    image = Image.fromarray(np.array([[0, 65535]], dtype=np.int32))
    assert image.mode == "I"
    out = decode_image(encode(image, "TIFF"), "i32.tif")
    assert out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((1, 0)) == (255, 255, 255)


def test_cmyk():
    out = decode_image(encode(Image.new("CMYK", (3, 3), (0, 255, 255, 0)), "TIFF"), "c.tif")
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 0, 0)


def test_one_bit():
    image = Image.new("1", (4, 4), 0)
    image.putpixel((2, 2), 1)
    out = decode_image(encode(image), "bw.png")
    assert out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((2, 2)) == (255, 255, 255)


def test_exif_orientation_applied():
    image = Image.new("RGB", (4, 2), (0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = decode_image(encode(image, exif=exif.tobytes()), "exif.png")
    assert out.size == (2, 4)
    assert out.getpixel((1, 0)) == (255, 0, 0)  # top-left moved to top-right


def test_zero_bytes_names_source():
    with pytest.raises(BadImage, match=r"my/source\.png.*empty"):
        decode_image(b"", "my/source.png")


def test_truncated_bytes_name_source():
    data = encode(Image.new("RGB", (64, 64), (1, 2, 3)))
    with pytest.raises(BadImage) as info:
        decode_image(data[: len(data) // 2], "crops/trunc.png")
    assert "crops/trunc.png" in str(info.value)
    assert isinstance(info.value, UserError)


def test_garbage_bytes():
    with pytest.raises(BadImage, match="garbage.bin"):
        decode_image(b"definitely not an image", "garbage.bin")


def test_zero_size_rejected():
    with pytest.raises(BadImage, match="zero.png"):
        decode_image(png_header_only(0, 5), "zero.png")


def test_pixel_limit_default_and_custom():
    with pytest.raises(BadImage, match=r"huge\.png.*over the limit"):
        decode_image(png_header_only(10_000, 6_000), "huge.png")  # 60 MP > 50 MP
    small = encode(Image.new("RGB", (10, 10)))
    with pytest.raises(BadImage, match="over the limit"):
        decode_image(small, "small.png", max_pixels=99)
    assert decode_image(small, "small.png", max_pixels=100).size == (10, 10)


def test_load_image(tmp_path):
    path = tmp_path / "word.png"
    path.write_bytes(encode(Image.new("L", (6, 2), 200)))
    assert load_image(path).getpixel((0, 0)) == (200, 200, 200)
    with pytest.raises(BadImage, match="nope.png"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(BadImage, match="folder"):
        load_image(tmp_path)
