"""read_image: every Pillow mode and bit depth, from files written here with known samples → exact floats."""

import colorsys
import io
import struct
import zlib

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image, ImageCms, ImageOps

from laserlab.data import UnreadableImageError, image_from_pil, read_image, resize_center_crop

# --------------------------------------------------------------------------------------------------
# A PNG writer for what Pillow cannot write: 16-bit RGB / RGBA / grey + alpha, tRNS keys, every row
# filter and Adam7 interlacing (so the second decode that recovers the low bytes is checked against
# streams whose unfiltering and pass layout depend on the bytes per pixel).

_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels → PNG colour type


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _filtered(rows: np.ndarray, bpp: int, first_filter: int) -> bytes:
    """Rows (H, bytes) uint8, filter type cycling 0..4 from ``first_filter``."""
    out, previous = [], np.zeros(rows.shape[1], np.int64)
    for y, row in enumerate(rows.astype(np.int64)):
        kind = (first_filter + y) % 5
        left = np.concatenate([np.zeros(bpp, np.int64), row[:-bpp]])
        up_left = np.concatenate([np.zeros(bpp, np.int64), previous[:-bpp]])
        predictor = [0, left, previous, (left + previous) // 2, _paeth(left, previous, up_left)][kind]
        out.append(bytes([kind]) + ((row - predictor) % 256).astype(np.uint8).tobytes())
        previous = row
    return b"".join(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(samples: np.ndarray, *, interlace: bool = False, trns=None) -> bytes:
    """A 16-bit PNG of ``samples`` (H, W) or (H, W, C) uint16, C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA."""
    samples = samples if samples.ndim == 3 else samples[..., None]
    height, width, channels = samples.shape
    bpp = 2 * channels
    raw = samples.astype(">u2").view(np.uint8).reshape(height, width * bpp)
    if interlace:
        passes = []
        for i, (x0, y0, dx, dy) in enumerate(_ADAM7):
            sub = samples[y0::dy, x0::dx]
            if sub.size:
                rows = sub.astype(">u2").view(np.uint8).reshape(sub.shape[0], sub.shape[1] * bpp)
                passes.append(_filtered(rows, bpp, i))
        data = b"".join(passes)
    else:
        data = _filtered(raw, bpp, 0)
    header = struct.pack(">IIBBBBB", width, height, 16, _COLOUR_TYPE[channels], 0, 0, int(interlace))
    extra = _chunk(b"tRNS", struct.pack(f">{len(trns)}H", *trns)) if trns is not None else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", zlib.compress(data))
        + _chunk(b"IEND", b"")
    )


def _save(tmp_path, name, image: Image.Image, **options):
    path = tmp_path / name
    image.save(path, **options)
    return path


def _rgb(values: np.ndarray) -> torch.Tensor:
    """Expected tensor (3, H, W) float32 from (H, W) grey or (H, W, 3) float64 values."""
    values = np.repeat(values[..., None], 3, axis=-1) if values.ndim == 2 else values
    return torch.from_numpy(values.transpose(2, 0, 1).astype(np.float32))


def _over(colour, alpha, background):
    """colour and alpha in [0, 1] (float64) composited on a grey background."""
    return alpha * colour + (1 - alpha) * background


RNG = np.random.default_rng(0)
U16 = RNG.integers(0, 65536, size=(7, 9, 4)).astype(np.uint16)  # odd sizes: every Adam7 pass is ragged


# --------------------------------------------------------------------------------------------------
# The headline case and 16-bit grey


def test_16bit_grey_png_mid_grey_is_half_not_white(tmp_path):
    path = _save(tmp_path, "grey16.png", Image.fromarray(np.full((4, 5), 32768, np.uint16)))
    with Image.open(path) as image:
        assert image.mode == "I;16"
    got = read_image(path)
    assert got.shape == (3, 4, 5) and got.dtype == torch.float32
    assert torch.all(got == np.float32(32768 / 65535))


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_of_every_colour_type_is_exact(tmp_path, channels, interlace):
    samples = U16[..., :channels]
    path = tmp_path / "deep.png"
    path.write_bytes(png16(samples, interlace=interlace))
    values = samples.astype(np.float64) / 65535
    for background in (1.0, 0.0, 0.25):
        got = read_image(path, background=background)
        if channels in (2, 4):
            colour, alpha = values[..., :-1], values[..., -1:]
            expected = _over(colour, alpha, background)
            expected = expected[..., 0] if channels == 2 else expected
            torch.testing.assert_close(got, _rgb(expected), rtol=0, atol=1e-7)
        else:
            assert torch.equal(got, _rgb(values[..., 0] if channels == 1 else values))


def test_16bit_png_colour_keys_are_compared_at_16_bits(tmp_path):
    grey = np.array([[0, 1, 256, 65535]], np.uint16)
    path = tmp_path / "grey_key.png"
    path.write_bytes(png16(grey, trns=(256,)))  # 256 and 1 share a high byte; only 256 is transparent
    expected = grey / 65535
    expected[0, 2] = 0.0
    assert torch.equal(read_image(path, background=0.0), _rgb(expected))
    rgb = np.array([[[1, 2, 3], [1, 2, 4], [256, 2, 3]]], np.uint16)
    path = tmp_path / "rgb_key.png"
    path.write_bytes(png16(rgb, trns=(1, 2, 3)))
    expected = rgb / 65535
    expected[0, 0] = 1.0
    assert torch.equal(read_image(path), _rgb(expected))


def test_16bit_grey_modes_in_memory_and_tiff(tmp_path):
    values = np.array([[0, 1, 32768, 65535]], np.uint16)
    expected = _rgb(values / 65535)
    for mode, raw in (("I;16", "<u2"), ("I;16L", "<u2"), ("I;16B", ">u2"), ("I;16N", "=u2")):
        image = Image.frombytes(mode, (4, 1), values.astype(raw).tobytes())
        assert torch.equal(image_from_pil(image), expected), mode
    path = _save(tmp_path, "big_endian.tif", Image.frombytes("I;16B", (4, 1), values.astype(">u2").tobytes()))
    with Image.open(path) as image:
        assert image.mode == "I;16B"
    assert torch.equal(read_image(path), expected)


def test_16bit_pgm_opens_as_mode_i_and_is_divided_by_65535(tmp_path):
    path = tmp_path / "deep.pgm"
    path.write_bytes(b"P5 4 1 65535\n" + np.array([0, 1, 32768, 65535], ">u2").tobytes())
    with Image.open(path) as image:
        assert image.mode == "I"
    assert torch.equal(read_image(path), _rgb(np.array([[0, 1, 32768, 65535]]) / 65535))


@pytest.mark.parametrize(
    ("header", "data", "expected"),
    [
        (b"P5 3 1 1023\n", np.array([0, 512, 1023], ">u2").tobytes(), np.array([[0, 512, 1023]]) / 1023),
        (b"P5 2 1 100\n", bytes([50, 100]), np.array([[50, 100]]) / 100),
        (b"P2 3 1 1023\n", b"0 512\n1023\n", np.array([[0, 512, 1023]]) / 1023),
        (b"P6 1 1 65535\n", np.array([1, 2, 65535], ">u2").tobytes(), np.array([[[1, 2, 65535]]]) / 65535),
        (b"P3 1 1 1023\n", b"1 2 1023\n", np.array([[[1, 2, 1023]]]) / 1023),
    ],
)
def test_pgm_ppm_are_divided_by_their_maxval(tmp_path, header, data, expected):
    path = tmp_path / "image.ppm"
    path.write_bytes(header + data)
    assert torch.equal(read_image(path), _rgb(expected.astype(np.float64)))


@pytest.mark.parametrize("data", [b"P1 3 1\n0 1 0\n", b"P4 3 1\n" + bytes([0b01000000])])
def test_pbm_bitmaps_are_black_where_set(tmp_path, data):
    path = tmp_path / "bits.pbm"
    path.write_bytes(data)
    assert torch.equal(read_image(path), _rgb(np.array([[1.0, 0.0, 1.0]])))


def test_pgm_sample_above_maxval_is_unreadable(tmp_path):
    path = tmp_path / "bad.pgm"
    path.write_bytes(b"P2 2 1 100\n50 200\n")
    with pytest.raises(UnreadableImageError, match="exceeds maxval 100"):
        read_image(path)


# --------------------------------------------------------------------------------------------------
# TIFF: 16-bit colour, min-is-white, 32-bit and float samples


def test_16bit_rgb_and_rgba_tiff_are_exact(tmp_path):
    path = tmp_path / "rgb16.tif"
    tifffile.imwrite(path, U16[..., :3], photometric="rgb")
    with Image.open(path) as image:
        assert image.mode == "RGB"  # what Pillow alone would give: the high bytes
    assert torch.equal(read_image(path), _rgb(U16[..., :3] / 65535))
    path = tmp_path / "rgba16.tif"
    tifffile.imwrite(path, U16, photometric="rgb", extrasamples=[2])  # unassociated alpha
    values = U16 / 65535
    expected = _over(values[..., :3], values[..., 3:], 1.0)
    torch.testing.assert_close(read_image(path), _rgb(expected), rtol=0, atol=1e-7)


def test_16bit_min_is_white_tiff_is_inverted(tmp_path):
    path = tmp_path / "white16.tif"
    tifffile.imwrite(path, np.array([[0, 2000, 65535]], np.uint16), photometric="miniswhite")
    expected = 1 - np.array([[0, 2000, 65535]]) / 65535
    torch.testing.assert_close(read_image(path), _rgb(expected), rtol=0, atol=1e-7)


def test_32bit_unsigned_tiff_is_divided_by_its_maximum_and_signed_is_unreadable(tmp_path):
    path = tmp_path / "u32.tif"
    values = np.array([[0, 2**31, 2**32 - 1]], np.uint32)
    tifffile.imwrite(path, values)
    assert torch.equal(read_image(path), _rgb(values / (2**32 - 1)))
    path = tmp_path / "i32.tif"
    tifffile.imwrite(path, values.astype(np.int32) // 2)
    with pytest.raises(UnreadableImageError, match="signed integers have no"):
        read_image(path)


def test_float_tiffs_are_taken_as_they_are_and_must_lie_in_unit_range(tmp_path):
    grey = np.array([[0.0, 0.25, 1.0]], np.float32)
    path = _save(tmp_path, "f.tif", Image.fromarray(grey, mode="F"))
    with Image.open(path) as image:
        assert image.mode == "F"
    assert torch.equal(read_image(path), _rgb(grey.astype(np.float64)))
    rgb = RNG.random((3, 4, 3)).astype(np.float32)
    path = tmp_path / "rgb_float.tif"  # Pillow cannot open float RGB TIFF at all
    tifffile.imwrite(path, rgb, photometric="rgb")
    assert torch.equal(read_image(path), _rgb(rgb.astype(np.float64)))
    for bad, reason in ((1.5, "must lie in"), (np.nan, "NaN or Inf"), (-0.1, "must lie in")):
        path = _save(tmp_path, "bad.tif", Image.fromarray(np.array([[0.5, bad]], np.float32), mode="F"))
        with pytest.raises(UnreadableImageError, match=reason):
            read_image(path)


def test_mode_i_without_16bit_samples_is_refused(tmp_path):
    path = _save(tmp_path, "i.tif", Image.fromarray(np.array([[1, 70000]], np.int32), mode="I"))
    with pytest.raises(UnreadableImageError, match="signed integers"):
        read_image(path)
    with pytest.raises(UnreadableImageError, match="32-bit or signed integers"):
        image_from_pil(Image.fromarray(np.array([[1, 2]], np.int32), mode="I"))


# --------------------------------------------------------------------------------------------------
# 8-bit and 1-bit modes, palettes, alpha


def test_1bit_and_8bit_grey(tmp_path):
    bits = np.array([[0, 1, 1, 0]], bool)
    path = _save(tmp_path, "one.png", Image.fromarray(bits))
    with Image.open(path) as image:
        assert image.mode == "1"
    assert torch.equal(read_image(path), _rgb(bits.astype(np.float64)))
    grey = np.array([[0, 1, 128, 255]], np.uint8)
    path = _save(tmp_path, "grey.png", Image.fromarray(grey))
    assert torch.equal(read_image(path), _rgb(grey / 255))


def test_rgb_and_alpha_modes(tmp_path):
    rgba = np.array([[[10, 20, 30, 255], [200, 100, 0, 128], [255, 255, 255, 0], [0, 0, 0, 64]]], np.uint8)
    values = rgba / 255
    path = _save(tmp_path, "rgb.png", Image.fromarray(rgba[..., :3]))
    assert torch.equal(read_image(path), _rgb(values[..., :3]))
    path = _save(tmp_path, "rgba.png", Image.fromarray(rgba))
    for background in (1.0, 0.0):
        expected = _over(values[..., :3], values[..., 3:], background)
        torch.testing.assert_close(read_image(path, background=background), _rgb(expected), rtol=0, atol=1e-7)
    assert torch.equal(read_image(path)[:, 0, 0], torch.from_numpy(values[0, 0, :3].astype(np.float32)))
    la = rgba[..., [0, 3]]
    path = _save(tmp_path, "la.png", Image.fromarray(la, mode="LA"))
    expected = _over(la[..., 0] / 255, la[..., 1] / 255, 1.0)
    torch.testing.assert_close(read_image(path), _rgb(expected), rtol=0, atol=1e-7)


def test_palette_with_and_without_transparency(tmp_path):
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (3 * 253)
    indices = np.array([[0, 1, 2, 1]], np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette)
    path = _save(tmp_path, "p.png", image)
    expected = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]], np.float64)
    assert torch.equal(read_image(path), _rgb(expected))
    for suffix in (".png", ".gif"):
        path = _save(tmp_path, f"p_transparent{suffix}", image, transparency=1)
        with Image.open(path) as opened:
            assert opened.mode == "P" and "transparency" in opened.info
        see_through = expected.copy()
        see_through[0, [1, 3]] = 0.25
        assert torch.equal(read_image(path, background=0.25), _rgb(see_through)), suffix


def test_pa_cmyk_ycbcr_lab_through_tiff(tmp_path):
    pa = Image.new("PA", (2, 1))
    pa.putpalette([255, 0, 0, 0, 0, 255] + [0] * 750)
    pa.putdata([(0, 255), (1, 0)])
    path = _save(tmp_path, "pa.tif", pa)
    with Image.open(path) as image:
        assert image.mode == "PA"
    assert torch.equal(read_image(path), _rgb(np.array([[[1.0, 0, 0], [1, 1, 1]]])))

    cmyk = Image.new("CMYK", (4, 1))
    cmyk.putdata([(0, 0, 0, 0), (255, 0, 0, 0), (0, 128, 0, 0), (0, 0, 0, 255)])
    path = _save(tmp_path, "cmyk.tif", cmyk)
    expected = np.array([[[255, 255, 255], [0, 255, 255], [255, 127, 255], [0, 0, 0]]]) / 255
    assert torch.equal(read_image(path), _rgb(expected))

    ycbcr = Image.new("YCbCr", (3, 1))
    ycbcr.putdata([(0, 128, 128), (100, 128, 128), (255, 128, 128)])  # neutral chroma: grey = Y
    path = _save(tmp_path, "ycbcr.tif", ycbcr)
    with Image.open(path) as image:
        assert image.mode == "YCbCr"
    assert torch.equal(read_image(path), _rgb(np.array([[0, 100, 255]]) / 255))

    lab = Image.new("LAB", (3, 1))
    lab.putdata([(255, 128, 128), (0, 128, 128), (140, 200, 90)])
    path = _save(tmp_path, "lab.tif", lab)
    with Image.open(path) as image:
        assert image.mode == "LAB"
    profiles = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
    to_srgb = ImageCms.buildTransform(*profiles, "LAB", "RGB")
    expected = np.asarray(ImageCms.applyTransform(lab, to_srgb)) / 255
    assert torch.equal(read_image(path), _rgb(expected))


def test_premultiplied_and_padding_channels_from_tiff(tmp_path):
    colour = np.array([[[100, 50, 0, 128], [20, 20, 20, 255], [0, 0, 0, 0]]], np.uint8)  # colour ≤ alpha
    path = tmp_path / "rgba_associated.tif"
    tifffile.imwrite(path, colour, photometric="rgb", extrasamples=[1])
    values = colour / 255
    expected = values[..., :3] + (1 - values[..., 3:]) * 0.5  # premultiplied: c + (1 − α)·background
    torch.testing.assert_close(read_image(path, background=0.5), _rgb(expected), rtol=0, atol=1e-7)
    path = tmp_path / "la_associated.tif"
    tifffile.imwrite(path, colour[..., [0, 3]], photometric="minisblack", extrasamples=[1])
    with Image.open(path) as image:
        assert image.mode == "La"
    expected = values[..., 0] + (1 - values[..., 3]) * 0.5
    torch.testing.assert_close(read_image(path, background=0.5), _rgb(expected), rtol=0, atol=1e-7)
    path = tmp_path / "rgbx.tif"
    tifffile.imwrite(path, colour, photometric="rgb", extrasamples=[0])  # unspecified: not alpha
    assert torch.equal(read_image(path), _rgb(values[..., :3]))


def test_hsv_and_other_in_memory_modes():
    pixels = [(0, 255, 255), (85, 255, 255), (0, 0, 77)]
    hsv = Image.new("HSV", (3, 1))
    hsv.putdata(pixels)
    expected = np.array([[colorsys.hsv_to_rgb(h / 255, s / 255, v / 255) for h, s, v in pixels]])
    assert torch.equal(image_from_pil(hsv), _rgb(np.round(expected * 255) / 255))
    rgba = Image.new("RGBA", (1, 1), (255, 0, 0, 0))
    assert torch.equal(image_from_pil(rgba, background=0.0), torch.zeros(3, 1, 1))


def test_colour_keys_of_8bit_and_low_bit_grey(tmp_path):
    rgb = np.array([[[1, 2, 3], [1, 2, 4]]], np.uint8)
    path = _save(tmp_path, "key.png", Image.fromarray(rgb), transparency=(1, 2, 3))
    expected = rgb / 255
    expected[0, 0] = 1.0
    assert torch.equal(read_image(path), _rgb(expected))
    # 2-bit grey, key 3 (stored at 2 bits; Pillow scales the pixels to 255 but not the key)
    raw = b"\x00" + bytes([0b11010000])
    header = struct.pack(">IIBBBBB", 2, 1, 2, 0, 0, 0, 0)
    path = tmp_path / "grey2.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"tRNS", struct.pack(">H", 3))
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )
    assert torch.equal(read_image(path, background=0.0), _rgb(np.array([[0.0, 85 / 255]])))


# --------------------------------------------------------------------------------------------------
# Orientation, refusals, arguments, resizing


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(tmp_path, orientation):
    stored = RNG.integers(0, 256, size=(3, 5, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(tmp_path, "oriented.png", Image.fromarray(stored), exif=exif)
    with Image.open(path) as image:
        upright = np.asarray(ImageOps.exif_transpose(image))
    assert torch.equal(read_image(path), _rgb(upright / 255))
    expected_shape = (3, 3, 5) if orientation <= 4 else (3, 5, 3)  # 5–8 swap height and width
    assert read_image(path).shape == expected_shape


def test_exif_rotated_jpeg_is_upright(tmp_path):
    stored = np.zeros((16, 32, 3), np.uint8)
    stored[:, :16] = (255, 0, 0)  # red on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90° clockwise: the red half ends up on top
    path = _save(tmp_path, "rotated.jpg", Image.fromarray(stored), exif=exif, quality=95)
    got = read_image(path)
    assert got.shape == (3, 32, 16)
    with Image.open(path) as image:
        assert torch.equal(got, _rgb(np.asarray(ImageOps.exif_transpose(image)) / 255))
    assert float(got[0, :8].mean()) > 0.9 and float(got[0, -8:].mean()) < 0.1


def test_unreadable_files_name_the_file_and_the_reason(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    good = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(good, "PNG")
    (tmp_path / "truncated.png").write_bytes(good.getvalue()[:200])
    for name in ("empty.png", "text.png", "truncated.png", "missing.png"):
        with pytest.raises(UnreadableImageError, match=name) as info:
            read_image(tmp_path / name)
        assert isinstance(info.value, ValueError) and info.value.reason
    with pytest.raises(UnreadableImageError, match=r"empty file \(0 bytes\)"):
        read_image(tmp_path / "empty.png")


def test_16bit_formats_without_an_exact_reader_are_refused_not_truncated(tmp_path):
    planes = np.array([[[32768, 1]], [[2, 3]], [[4, 5]]], np.uint16)  # (Z, H, W)
    header = struct.pack(">hbbHHHHii4s80si404s", 474, 0, 2, 3, 2, 1, 3, 0, 65535, b"", b"", 0, b"")
    path = tmp_path / "deep.sgi"  # verbatim 16-bit SGI: Pillow opens it as 8-bit RGB
    path.write_bytes(header + planes.astype(">u2").tobytes())
    with pytest.raises(UnreadableImageError, match="16-bit samples"):
        read_image(path)


def test_16_bits_per_pixel_bmp_is_not_mistaken_for_16_bits_per_sample(tmp_path):
    data = struct.pack("<HH", 0x7FFF, 0x001F)  # 5-5-5: white, blue
    info = struct.pack("<IiiHHIIiiII", 40, 2, 1, 1, 16, 0, len(data), 2835, 2835, 0, 0)
    path = tmp_path / "rgb555.bmp"
    path.write_bytes(b"BM" + struct.pack("<IHHI", 54 + len(data), 0, 0, 54) + info + data)
    assert torch.equal(read_image(path), _rgb(np.array([[[1.0, 1, 1], [0, 0, 1]]])))


def test_pillow_image_with_truncating_rawmode_is_refused(tmp_path):
    path = tmp_path / "rgb16.png"
    path.write_bytes(png16(U16[..., :3]))
    with Image.open(path) as image, pytest.raises(UnreadableImageError, match="use read_image"):
        image_from_pil(image)


def test_arguments_are_checked(tmp_path):
    path = _save(tmp_path, "grey.png", Image.new("L", (2, 2)))
    with pytest.raises(TypeError, match="background"):
        read_image(path, background="white")
    with pytest.raises(ValueError, match="background"):
        read_image(path, background=1.5)
    with pytest.raises(TypeError, match="path"):
        read_image(3)
    with pytest.raises(TypeError, match="image"):
        image_from_pil(np.zeros((2, 2)))


def test_resize_center_crop():
    image = torch.rand(3, 40, 60, generator=torch.Generator().manual_seed(0))
    out = resize_center_crop(image, 20)
    assert out.shape == (3, 20, 20) and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(resize_center_crop(image, 40), image[:, :, 10:50])  # shorter side already 40
    flat = torch.full((3, 30, 50), 0.3)
    torch.testing.assert_close(resize_center_crop(flat, 64), torch.full((3, 64, 64), 0.3))
    with pytest.raises(ValueError, match="size"):
        resize_center_crop(image, 0)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        resize_center_crop(image[None], 8)
