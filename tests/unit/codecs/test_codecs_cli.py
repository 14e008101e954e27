import pytest

from laserlab import codecs
from laserlab.cli import main
from laserlab.data.samples import load_source


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "photo.png"
    codecs.write_image(load_source("coffee", short_side=48), path)
    return path


def test_compress_and_decompress_round_trip(image_file, tmp_path, capsys):
    compressed, restored = tmp_path / "photo.webp", tmp_path / "restored.png"
    assert (
        main(
            [
                "compress",
                "--codec",
                "webp",
                "--quality",
                "50",
                str(image_file),
                "-o",
                str(compressed),
                "--psnr",
            ]
        )
        == 0
    )
    image = codecs.read_image(image_file)
    codec = codecs.build("webp", quality=50)
    data = codec.encode(image)
    assert compressed.read_bytes() == data
    out = capsys.readouterr().out
    assert f"{len(data)} bytes, 48×72, {8 * len(data) / (48 * 72):.4f} bpp, PSNR" in out
    argv = [
        "decompress",
        "--codec",
        "webp",
        str(compressed),
        "-o",
        str(restored),
        "--reference",
        str(image_file),
    ]
    assert main(argv) == 0
    assert codecs.read_image(restored).equal(codec.decode(data))
    assert "bpp → " in capsys.readouterr().out


def test_laserlab_formats_need_their_options_back(image_file, tmp_path, capsys):
    compressed = tmp_path / "photo.thumb"
    argv = ["compress", "--codec", "thumbnail", "--factor", "8", "--upsample", "bicubic", str(image_file)]
    assert main([*argv, "-o", str(compressed)]) == 0
    restored = tmp_path / "small.png"
    assert main(["decompress", "--codec", "thumbnail", "--factor", "8", "--upsample", "bicubic",
                 str(compressed), "-o", str(restored)]) == 0  # fmt: skip
    assert restored.is_file()
    capsys.readouterr()
    assert main(["decompress", "--codec", "thumbnail", str(compressed), "-o", str(restored)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "other settings" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compress", "--codec", "png", "IMAGE", "-o", "OUT/x"], "codec name must be one of"),
        (["compress", "--codec", "webp", "--factor", "2", "IMAGE", "-o", "OUT/x"], "unknown option"),
        (["compress", "--codec", "jpeg", "--quality", "200", "IMAGE", "-o", "OUT/x"], "quality must be"),
        (["compress", "--codec", "jpeg", "OUT/missing.png", "-o", "OUT/x"], "does not exist"),
        (["compress", "--codec", "jpeg", "IMAGE", "-o", "OUT/no/x"], "folder"),
        (["decompress", "--codec", "jpeg", "IMAGE", "-o", "OUT/x.png"], "the data is a PNG file, not JPEG"),
        (["decompress", "--codec", "jpeg", "OUT/none.jpg", "-o", "OUT/x.png"], "does not exist"),
        (["decompress", "--codec", "mean_colour", "IMAGE", "-o", "OUT/x.png"], "not a laserlab codec file"),
    ],
)
def test_errors_are_one_line(argv, message, image_file, tmp_path, capsys):
    argv = [a.replace("IMAGE", str(image_file)).replace("OUT", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith(f"laserlab {argv[0]}: error:")


def test_decompress_refuses_a_lossy_output_format(image_file, tmp_path, capsys):
    compressed = tmp_path / "photo.jpg"
    assert main(["compress", "--codec", "jpeg", str(image_file), "-o", str(compressed)]) == 0
    assert main(["decompress", "--codec", "jpeg", str(compressed), "-o", str(tmp_path / "x.jpg")]) == 2
    assert "lossless format" in capsys.readouterr().err


def test_a_learned_codec_round_trips_through_its_checkpoint(
    hyperprior_checkpoint, image_file, tmp_path, capsys
):
    compressed, restored = tmp_path / "photo.ll", tmp_path / "restored.png"
    checkpoint = str(hyperprior_checkpoint)
    assert (
        main(["compress", "--checkpoint", checkpoint, str(image_file), "-o", str(compressed), "--psnr"]) == 0
    )
    codec = codecs.from_checkpoint(checkpoint)
    image = codecs.read_image(image_file)
    data = codec.encode(image)
    assert compressed.read_bytes() == data
    out = capsys.readouterr().out
    assert out.startswith(f"learned(checkpoint={checkpoint!r}): ")
    assert f"{len(data)} bytes, 48×72, {8 * len(data) / (48 * 72):.4f} bpp, PSNR" in out
    argv = ["decompress", "--checkpoint", checkpoint, str(compressed), "-o", str(restored)]
    assert main([*argv, "--reference", str(image_file)]) == 0
    eight_bit = codecs.image_from_uint8(codecs.image_to_uint8(codec.decode(data)))  # PNG stores 8 bits
    assert codecs.read_image(restored).equal(eight_bit)
    out = capsys.readouterr().out
    assert out.startswith("learned: ") and "bpp → " in out and "PSNR" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["compress", "--checkpoint", "CKPT", "--quality", "5", "IMAGE", "-o", "OUT/x"],
            "--quality: a codec",
        ),
        (["compress", "--checkpoint", "OUT/none.ckpt", "IMAGE", "-o", "OUT/x"], "does not exist"),
        (["decompress", "--checkpoint", "CKPT", "IMAGE", "-o", "OUT/x.png"], "not a laserlab codec file"),
    ],
)
def test_checkpoint_errors_are_one_line(argv, message, hyperprior_checkpoint, image_file, tmp_path, capsys):
    argv = [
        a.replace("CKPT", str(hyperprior_checkpoint))
        .replace("IMAGE", str(image_file))
        .replace("OUT", str(tmp_path))
        for a in argv
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_codec_and_checkpoint_are_exclusive_and_one_is_required(capsys):
    with pytest.raises(SystemExit):
        main(["compress", "--codec", "jpeg", "--checkpoint", "x.ckpt", "a.png", "-o", "b"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compress", "a.png", "-o", "b"])
    assert "one of the arguments --codec --checkpoint is required" in capsys.readouterr().err
