import numpy as np
import pytest
import torch
from PIL import Image

from laserlab.codecs import read_image, write_image


def test_8_bit_images_round_trip_exactly(tmp_path):
    image = torch.randint(0, 256, (3, 7, 9), generator=torch.Generator().manual_seed(0)).float() / 255
    for suffix in (".png", ".bmp", ".tiff"):
        path = tmp_path / f"x{suffix}"
        write_image(image, path)
        assert torch.equal(read_image(path), image)


def test_greyscale_and_palette_become_rgb(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey).save(tmp_path / "grey.png")
    image = read_image(tmp_path / "grey.png")
    assert image.shape == (3, 3, 4) and torch.equal(image[0], image[2])
    Image.fromarray(grey).convert("P").save(tmp_path / "palette.png")
    assert read_image(tmp_path / "palette.png").shape == (3, 3, 4)


def test_alpha_deep_and_broken_files_are_refused(tmp_path):
    Image.new("RGBA", (4, 4)).save(tmp_path / "alpha.png")
    with pytest.raises(ValueError, match="mode 'RGBA'"):
        read_image(tmp_path / "alpha.png")
    Image.new("I;16", (4, 4)).save(tmp_path / "deep.png")
    with pytest.raises(ValueError, match="mode 'I;16'"):
        read_image(tmp_path / "deep.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not an image file"):
        read_image(tmp_path / "junk.png")
    with pytest.raises(ValueError, match="lossless"):
        write_image(torch.zeros(3, 2, 2), tmp_path / "x.webp")
