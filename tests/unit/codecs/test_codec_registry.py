import pytest
from PIL import features

from laserlab import codecs
from laserlab.codecs import registry


def test_available_lists_every_codec_with_a_reason_when_missing():
    statuses = {status.name: status for status in codecs.available()}
    assert set(statuses) == {"jpeg", "webp", "jpeg2000", "avif", "thumbnail", "mean_colour"}
    for status in statuses.values():
        assert status.available == (status.reason == "")
    assert statuses["thumbnail"].available and statuses["mean_colour"].available


def test_a_codec_pillow_lacks_is_listed_and_refused(monkeypatch):
    real = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "avif" else real(name))
    status = next(s for s in codecs.available() if s.name == "avif")
    assert not status.available and "built without 'avif' support" in status.reason
    with pytest.raises(codecs.CodecUnavailableError, match="codec 'avif' is not available in this install"):
        codecs.build("avif", quality=50)
    assert codecs.build("jpeg").name == "jpeg"


def test_unknown_names_and_options():
    with pytest.raises(ValueError, match="codec name must be one of"):
        codecs.build("png")
    with pytest.raises(TypeError, match=r"codec 'webp' takes the options \['quality'\]; got unknown option"):
        codecs.build("webp", factor=4)
    assert codecs.options("thumbnail") == {"factor": 4, "upsample": "bilinear"}
    assert codecs.options("mean_colour") == {}
    assert codecs.options("jpeg2000") == {"quality": 75}


def test_register_refuses_a_taken_name_and_non_codecs():
    class Impostor(codecs.ThumbnailCodec):
        name = "thumbnail"

    with pytest.raises(ValueError, match="already registered"):
        codecs.register(Impostor)
    with pytest.raises(TypeError, match="Codec subclass"):
        codecs.register(dict)
    assert registry.register(codecs.ThumbnailCodec) is codecs.ThumbnailCodec
