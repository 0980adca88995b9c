"""The photorealistic mode: wavelet encoder, whitening and colouring while encoding, label regions, smoothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from painterly.encoders.haar import HaarEncoder, PhotoDecoder, PhotoDecoderSpec
from painterly.errors import ConfigError, InputImageError, WeightsError
from painterly.methods import photo
from painterly.methods.photo import PhotoOptions, PhotoStylizer, label_regions, parse_label_pair
from painterly.ops import pad_to_multiple
from tests.conftest import gradient_image, he_initialised, make_tiny_encoder

TINY_SPEC = PhotoDecoderSpec((4, 4, 8, 8, 8, 8, 8, 8), (2, 4, 7), feature_skips=True)
RED, GREEN, BLUE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def tiny_photo_decoder(seed: int = 0) -> PhotoDecoder:
    torch.manual_seed(seed)
    return he_initialised(PhotoDecoder(TINY_SPEC), bias=0.02)


def tiny_photo() -> PhotoStylizer:
    return PhotoStylizer(tiny_photo_decoder(), encoder=make_tiny_encoder(["relu4_1"]), device="cpu", precision="fp32")


def style_photo(height: int = 40, width: int = 48, seed: int = 1) -> torch.Tensor:
    return gradient_image(height, width, seed=seed).flip(-1) ** 2


def painted(height: int, width: int, regions: list[tuple[tuple[float, float, float], slice, slice]]) -> torch.Tensor:
    """A label image: black, with each (colour, rows, columns) region painted in."""
    labels = torch.zeros(1, 3, height, width)
    for colour, rows, columns in regions:
        labels[0, :, rows, columns] = torch.tensor(colour)[:, None, None]
    return labels


def test_options_parse_label_pairs_and_check_values() -> None:
    assert PhotoOptions(labels="a.png:b.png").labels == (Path("a.png"), Path("b.png"))  # type: ignore[arg-type]
    assert parse_label_pair("C:/x/a.png:b.png") == (Path("C:/x/a.png"), Path("b.png"))
    assert parse_label_pair(["a.png", Path("b.png")]) == (Path("a.png"), Path("b.png"))
    assert PhotoOptions(levels="relu1_1,relu3_1").levels == ("relu3_1", "relu1_1")  # type: ignore[arg-type]
    assert PhotoOptions().alpha == 1.0 and not PhotoOptions().smooth
    for text in ("a.png", ":b.png", "a.png:"):
        with pytest.raises(ConfigError, match=f"labels must be PHOTO_LABELS:STYLE_LABELS, got '{text}'"):
            PhotoOptions(labels=text)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"labels must be two images \(photo, style\), got 3"):
        parse_label_pair(["a", "b", "c"])
    with pytest.raises(ConfigError, match=r"smoothing needs a radius within 1\.\.256 and eps within \(0, 1\]"):
        PhotoOptions(smooth_radius=0)
    with pytest.raises(ConfigError, match="smoothing needs"):
        PhotoOptions(smooth_eps=0.0)
    with pytest.raises(ConfigError, match=r"alpha must be within 0\.\.1"):
        PhotoOptions(alpha=-0.5)
    with pytest.raises(ConfigError, match="style_scale must be within"):
        PhotoOptions(style_scale=20)
    with pytest.raises(ConfigError, match="size must be at least 16"):
        PhotoOptions(size=8)


def test_output_has_the_photos_odd_size_and_timings_have_their_stages() -> None:
    stylizer = tiny_photo()
    content = gradient_image(37, 53)
    result = stylizer.stylize(content, [style_photo()])
    assert result.shape == (1, 3, 37, 53) and result.dtype == torch.float32
    assert float(result.min()) >= 0 and float(result.max()) <= 1
    assert set(stylizer.timings) == {"style", "encode", "decode", "smooth"}
    assert all(seconds >= 0 for seconds in stylizer.timings.values())
    assert stylizer.stylize(content, [style_photo()], options=PhotoOptions(size=32)).shape == (1, 3, 22, 32)
    assert stylizer.stylize(gradient_image(9, 13), [style_photo()]).shape == (1, 3, 9, 13)


def test_alpha_zero_is_the_plain_reconstruction() -> None:
    stylizer = tiny_photo()
    content = gradient_image(37, 45, seed=2)
    zero = stylizer.stylize(content, [style_photo()], options=PhotoOptions(alpha=0.0))
    with torch.no_grad():
        features = stylizer.encoder(pad_to_multiple(content, 8))
        expected = stylizer.decoder(features.bottleneck, features.skips, features.pooled)[..., :37, :45].clamp(0, 1)
    torch.testing.assert_close(zero, expected, atol=1e-5, rtol=0)
    full = stylizer.stylize(content, [style_photo()], options=PhotoOptions(alpha=1.0))
    assert not torch.allclose(full, zero, atol=1e-3)
    # only at the chosen levels: relu1_1 alone differs from the full set and from no transfer
    fine = stylizer.stylize(content, [style_photo()], options=PhotoOptions(levels=("relu1_1",)))
    assert not torch.allclose(fine, zero, atol=1e-4) and not torch.allclose(fine, full, atol=1e-4)


def test_blends_masks_and_smoothing_run() -> None:
    stylizer = tiny_photo()
    content = gradient_image(32, 48, seed=3)
    first, second = style_photo(), style_photo(40, 40, seed=6).flip(-2) ** 0.5
    alone = stylizer.stylize(content, [first])
    torch.testing.assert_close(stylizer.stylize(content, [first, second], weights=[1.0, 0.0]), alone, atol=1e-5, rtol=0)
    mask = torch.zeros(1, 1, 32, 48)
    mask[..., :24] = 1.0
    assert stylizer.stylize(content, [first, second], masks=[mask, 1 - mask]).shape == (1, 3, 32, 48)
    smoothed = stylizer.stylize(content, [first], options=PhotoOptions(smooth=True, smooth_radius=2))
    assert smoothed.shape == (1, 3, 32, 48) and float(smoothed.min()) >= 0 and float(smoothed.max()) <= 1
    assert not torch.equal(smoothed, alone)
    assert stylizer.timings["smooth"] > 0


def test_label_regions_pair_matching_colours() -> None:
    content_labels = painted(20, 30, [(RED, slice(None), slice(0, 15)), (BLUE, slice(None), slice(15, None))])
    style_labels = painted(10, 10, [(RED, slice(0, 5), slice(None)), (GREEN, slice(5, None), slice(None))])
    pairs = label_regions(content_labels, style_labels, (40, 60), (30, 50))
    assert len(pairs) == 1  # blue is not in the style, green not in the photo, nothing else is shared
    content_mask, style_mask = pairs[0]
    assert content_mask.shape == (1, 1, 40, 60) and style_mask.shape == (1, 1, 30, 50)
    assert float(content_mask[..., :30].min()) == 1.0 and float(content_mask[..., 30:].max()) == 0.0
    assert float(style_mask[..., :15, :].min()) == 1.0 and float(style_mask[..., 15:, :].max()) == 0.0
    both = painted(10, 10, [(RED, slice(0, 5), slice(None)), (BLUE, slice(5, None), slice(None))])
    assert len(label_regions(content_labels, both, (20, 30), (10, 10))) == 2
    # a colour on too small a share of an image is ignored
    speck = painted(40, 40, [(RED, slice(None), slice(None)), (BLUE, slice(0, 1), slice(0, 1))])
    assert len(label_regions(speck, both, (40, 40), (10, 10))) == 1


def test_labels_that_share_no_colour_are_refused() -> None:
    content_labels = painted(16, 16, [(RED, slice(None), slice(None))])
    style_labels = painted(16, 16, [(GREEN, slice(None), slice(None))])
    with pytest.raises(InputImageError, match="the photo's and the style's label images share no region colour"):
        label_regions(content_labels, style_labels, (16, 16), (16, 16))
    with pytest.raises(InputImageError, match="share no region colour"):
        tiny_photo().stylize(gradient_image(32, 32), [style_photo(32, 32)], labels=(content_labels, style_labels))
    with pytest.raises(InputImageError, match="the style's label image is 16x16 px but the style photo is 48x40"):
        tiny_photo().stylize(gradient_image(32, 32), [style_photo()], labels=(content_labels, style_labels))


def test_stylize_with_labels_styles_each_region_from_its_match() -> None:
    stylizer = tiny_photo()
    content = gradient_image(64, 64, seed=7)
    style = style_photo(64, 64, seed=8)
    content_labels = painted(64, 64, [(RED, slice(None), slice(0, 32)), (BLUE, slice(None), slice(32, None))])
    style_labels = painted(64, 64, [(RED, slice(0, 32), slice(None)), (BLUE, slice(32, None), slice(None))])
    result = stylizer.stylize(content, [style], labels=(content_labels, style_labels))
    assert result.shape == (1, 3, 64, 64)
    plain = stylizer.stylize(content, [style])
    assert not torch.allclose(result, plain, atol=1e-3)


def test_bad_inputs_raise() -> None:
    stylizer = tiny_photo()
    content = gradient_image(32, 32)
    labels = (painted(8, 8, [(RED, slice(None), slice(None))]),) * 2
    with pytest.raises(ConfigError, match="label images pair regions of one style photo: give one style and no masks"):
        stylizer.stylize(content, [style_photo(), style_photo()], labels=labels)
    with pytest.raises(ConfigError, match="give one style and no masks"):
        stylizer.stylize(content, [style_photo()], masks=[torch.ones(1, 1, 32, 32)], labels=labels)
    with pytest.raises(ConfigError, match=r"got 2 mask\(s\) for 1 style image\(s\)"):
        stylizer.stylize(content, [style_photo()], masks=[torch.ones(1, 1, 32, 32)] * 2)
    with pytest.raises(InputImageError, match="style 1 is 48x30 px: WCT needs at least 32 px"):
        stylizer.stylize(content, [style_photo(30, 48)])


def test_too_large_a_picture_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photo, "MAX_PIXELS", 1000)
    with pytest.raises(InputImageError, match="photo mode works on the whole picture at once: 40x32 is above"):
        tiny_photo().stylize(gradient_image(32, 40), [style_photo()])


def test_the_decoder_must_mirror_the_encoder() -> None:
    with pytest.raises(WeightsError, match="the photo decoder has the shape"):
        PhotoStylizer(PhotoDecoder(), encoder=make_tiny_encoder(["relu4_1"]), device="cpu")
    spec = PhotoDecoderSpec.of(HaarEncoder(make_tiny_encoder(["relu4_1"])))
    assert spec == TINY_SPEC


def test_a_small_but_valid_style_region_does_not_stop_the_transfer() -> None:
    content, style = gradient_image(64, 64, seed=7), style_photo(64, 64, seed=8)
    content_labels = painted(64, 64, [(RED, slice(None), slice(0, 32)), (BLUE, slice(None), slice(32, None))])
    # blue covers 36 of the style's 4096 pixels (0.9 %, nine times MIN_REGION_SHARE): 0.56 pixels at relu4_1
    style_labels = painted(64, 64, [(RED, slice(None), slice(None)), (BLUE, slice(0, 6), slice(0, 6))])
    assert photo.MIN_REGION_SHARE < 36 / 64**2
    result = tiny_photo().stylize(content, [style], labels=(content_labels, style_labels))
    assert result.shape == (1, 3, 64, 64)
