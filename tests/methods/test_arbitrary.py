"""The arbitrary-style method: AdaIN with masks and blends, the decoder, the stylizer (sizes, tiles, cache, colours)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from painterly.errors import ConfigError, WeightsError
from painterly.methods.arbitrary import (
    BOTTLENECK,
    ArbitraryOptions,
    ArbitraryStylizer,
    StyleStatistics,
    transfer_features,
)
from painterly.methods.decoders import Decoder, DecoderSpec
from painterly.methods.model_files import load_decoder, read_decoder_metadata, save_decoder
from painterly.ops import adain, masked_mean_std, mean_std
from tests.conftest import gradient_image, he_initialised, make_tiny_encoder

TINY_CHANNELS = 8  # relu4_1 of the tiny VGG16


def tiny_decoder(width: int = 4, quarter_convs: int = 1, seed: int = 0) -> Decoder:
    """A random decoder whose output follows its input (He-initialised, so the signal neither dies nor explodes)."""
    torch.manual_seed(seed)
    decoder = Decoder(DecoderSpec(width=width, quarter_convs=quarter_convs, in_channels=TINY_CHANNELS))
    return he_initialised(decoder, bias=0.02)


def tiny_stylizer(**kwargs: object) -> ArbitraryStylizer:
    return ArbitraryStylizer(
        tiny_decoder(),
        encoder=make_tiny_encoder([BOTTLENECK]),
        device="cpu",
        precision="fp32",
        **kwargs,  # type: ignore[arg-type]
    )


def statistics_of(features: torch.Tensor) -> StyleStatistics:
    mean, std = mean_std(features)
    return StyleStatistics(mean, std)


def test_adain_matches_a_numpy_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    content = torch.rand(1, 5, 6, 7, generator=generator, dtype=torch.float64)
    style = torch.rand(1, 5, 4, 9, generator=generator, dtype=torch.float64) * 3 + 1
    c, s = content.numpy()[0].reshape(5, -1), style.numpy()[0].reshape(5, -1)
    c_mean, c_std = c.mean(1, keepdims=True), np.sqrt(c.var(1, keepdims=True) + 1e-5)
    s_mean, s_std = s.mean(1, keepdims=True), np.sqrt(s.var(1, keepdims=True) + 1e-5)
    expected = ((c - c_mean) / c_std * s_std + s_mean).reshape(1, 5, 6, 7)
    np.testing.assert_allclose(adain(content, style).numpy(), expected, rtol=1e-10)
    result = transfer_features(content, [statistics_of(style)])
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6)


def test_blends_interpolate_and_weights_one_zero_equal_one_style() -> None:
    generator = torch.Generator().manual_seed(1)
    content = torch.rand(1, 4, 5, 5, generator=generator)
    first, second = (statistics_of(torch.rand(1, 4, 6, 6, generator=generator) * k) for k in (1.0, 4.0))
    alone = transfer_features(content, [first])
    assert torch.equal(transfer_features(content, [first, second], [1.0, 0.0]), alone)
    mixed = transfer_features(content, [first, second], [0.25, 0.75])
    expected = 0.25 * alone + 0.75 * transfer_features(content, [second])
    torch.testing.assert_close(mixed, expected)
    assert torch.equal(transfer_features(content, [first], alpha=0.0), content)
    torch.testing.assert_close(transfer_features(content, [first], alpha=0.3), 0.3 * alone + 0.7 * content)


def test_masks_confine_styles() -> None:
    generator = torch.Generator().manual_seed(2)
    content = torch.rand(1, 4, 6, 8, generator=generator)
    style = statistics_of(torch.rand(1, 4, 6, 6, generator=generator) * 5 + 2)
    mask = torch.zeros(1, 1, 6, 8)
    mask[..., :4] = 1.0
    result = transfer_features(content, [style], masks=[mask])
    assert torch.equal(result[..., 4:], content[..., 4:])  # outside the mask: the content's own features
    mean, std = masked_mean_std(result, mask)
    torch.testing.assert_close(mean, style.mean, rtol=1e-4, atol=1e-4)  # inside: the style's statistics
    torch.testing.assert_close(std, style.std, rtol=1e-3, atol=1e-3)
    second = statistics_of(torch.rand(1, 4, 6, 6, generator=generator))
    both = transfer_features(content, [style, second], masks=[mask, 1 - mask])
    assert torch.equal(both[..., :4], result[..., :4])
    with pytest.raises(ConfigError, match="one mask per style"):
        transfer_features(content, [style, second], masks=[mask])
    with pytest.raises(ConfigError, match="cannot be combined"):
        transfer_features(content, [style, second], [0.3, 0.7], masks=[mask, 1 - mask])


@pytest.mark.parametrize("spec", [DecoderSpec(8, 0, TINY_CHANNELS), DecoderSpec(8, 2, TINY_CHANNELS), DecoderSpec()])
def test_decoder_forward_and_backward(spec: DecoderSpec) -> None:
    torch.manual_seed(0)  # a tiny random decoder can be dead (every ReLU off) for some seeds
    decoder = Decoder(spec)
    features = torch.rand(2, spec.in_channels, 4, 4, requires_grad=True)
    image = decoder(features)
    assert image.shape == (2, 3, 32, 32)
    image.square().mean().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0
    assert all(parameter.grad is not None for parameter in decoder.parameters())


def test_decoder_spec_validation_and_round_trip() -> None:
    spec = DecoderSpec(width=16, quarter_convs=3)
    assert DecoderSpec.from_dict(spec.as_dict()) == spec
    with pytest.raises(ConfigError, match="width"):
        DecoderSpec(width=2)
    with pytest.raises(ConfigError, match="unknown decoder settings"):
        DecoderSpec.from_dict({"width": 8, "depth": 3})


def test_decoder_receptive_radius_bounds_its_reach() -> None:
    decoder = tiny_decoder(quarter_convs=2)
    features = torch.zeros(1, TINY_CHANNELS, 16, 16, requires_grad=True)
    decoder(features)[0, :, 64, 64].sum().backward()
    assert features.grad is not None
    rows = features.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    reach = max(abs(int(rows.min()) * 8 - 64), abs(int(rows.max()) * 8 + 7 - 64))
    assert reach <= decoder.spec.receptive_radius


@pytest.mark.parametrize("size", [(37, 53), (5, 7), (64, 48)])
def test_any_size_round_trips(size: tuple[int, int]) -> None:
    stylizer = tiny_stylizer()
    result = stylizer.stylize(gradient_image(*size), [gradient_image(30, 30, seed=3)])
    assert result.shape == (1, 3, *size)
    assert float(result.min()) >= 0 and float(result.max()) <= 1


def test_alpha_zero_is_the_reconstruction_and_weights_one_zero_one_style() -> None:
    stylizer = tiny_stylizer()
    content, first, second = gradient_image(40, 56), gradient_image(32, 32, seed=4), gradient_image(24, 40, seed=5)
    reconstruction = stylizer.decode(stylizer.encode(content))[..., :40, :56].clamp(0, 1)
    assert torch.equal(stylizer.stylize(content, [first], options=ArbitraryOptions(alpha=0.0)), reconstruction)
    alone = stylizer.stylize(content, [first])
    assert torch.equal(stylizer.stylize(content, [first, second], weights=[1.0, 0.0]), alone)
    assert not torch.allclose(stylizer.stylize(content, [second]), alone)


def test_masks_confine_styles_in_the_picture() -> None:
    stylizer = tiny_stylizer()
    content, style = gradient_image(48, 256), gradient_image(40, 40, seed=6) ** 3
    mask = torch.zeros(1, 1, 48, 256)
    mask[..., :64] = 1.0
    masked = stylizer.stylize(content, [style], masks=[mask])
    plain = stylizer.stylize(content, [style], options=ArbitraryOptions(alpha=0.0))
    far = 64 + 8 + stylizer.decoder.spec.receptive_radius
    assert torch.allclose(masked[..., far:], plain[..., far:], atol=1e-6)
    assert not torch.allclose(masked[..., :56], plain[..., :56], atol=1e-3)


def test_tiles_equal_one_pass() -> None:
    stylizer = tiny_stylizer()
    content, style = gradient_image(200, 150), gradient_image(64, 64, seed=7)
    whole = stylizer.stylize(content, [style])
    tiled = stylizer.stylize(content, [style], options=ArbitraryOptions(tile_size=64))
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)
    bounded = stylizer.stylize(content, [style], options=ArbitraryOptions(max_pass_pixels=96 * 96))
    torch.testing.assert_close(bounded, whole, atol=1e-5, rtol=1e-5)


def test_style_statistics_are_cached_and_style_scale_sizes_the_style() -> None:
    stylizer = tiny_stylizer(cache_size=2)
    calls: list[tuple[int, ...]] = []
    encode = stylizer.encode

    def counting(image: torch.Tensor, **kwargs: object) -> torch.Tensor:
        calls.append(tuple(image.shape[-2:]))
        return encode(image, **kwargs)  # type: ignore[arg-type]

    stylizer.encode = counting  # type: ignore[method-assign]
    content, style = gradient_image(40, 64), gradient_image(80, 100, seed=8)
    stylizer.stylize(content, [style])
    stylizer.stylize(content, [style])
    assert calls == [(51, 64), (40, 64), (40, 64)]  # the style once (at the output's long side), the photo twice
    calls.clear()
    stylizer.stylize(content, [style], options=ArbitraryOptions(style_scale=0.5))
    assert calls[0] == (26, 32)
    assert set(stylizer.timings) == {"style", "encode", "transfer", "decode", "colors"}


def test_luminance_mode_stylises_the_grey_photo_and_restores_its_chroma() -> None:
    from painterly.image.color import combine_luminance_with_chroma

    stylizer = tiny_stylizer()
    seen: list[torch.Tensor] = []
    encode = stylizer.encode

    def spying(image: torch.Tensor, **kwargs: object) -> torch.Tensor:
        seen.append(image)
        return encode(image, **kwargs)  # type: ignore[arg-type]

    stylizer.encode = spying  # type: ignore[method-assign]
    content, style = gradient_image(32, 48), gradient_image(32, 32, seed=9).flip(1)
    result = stylizer.stylize(content, [style], options=ArbitraryOptions(color="luminance"))
    photo_input = seen[-1]
    assert torch.allclose(photo_input[:, 0], photo_input[:, 1]) and torch.allclose(photo_input[:, 1], photo_input[:, 2])
    target = transfer_features(encode(photo_input), [statistics_of(encode(seen[0]))])
    grey_result = stylizer.decode(target)[..., :32, :48].clamp(0, 1)
    torch.testing.assert_close(result, combine_luminance_with_chroma(grey_result, content).clamp(0, 1))
    for mode in ("histogram", "meancov"):
        assert stylizer.stylize(content, [style], options=ArbitraryOptions(color=mode)).shape == content.shape


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alpha": 1.5}, "alpha"),
        ({"color": "sepia"}, "color mode"),
        ({"style_scale": 0.0}, "style_scale"),
        ({"size": 4}, "size"),
        ({"tile_size": 50}, "tile size"),
    ],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ArbitraryOptions(**options)  # type: ignore[arg-type]


def test_stylizer_checks_its_inputs() -> None:
    stylizer = tiny_stylizer()
    with pytest.raises(ConfigError, match="content must be a"):
        stylizer.stylize(torch.rand(3, 8, 8), [gradient_image(8, 8)])
    with pytest.raises(ConfigError, match="at least one style"):
        stylizer.stylize(gradient_image(8, 8), [])
    with pytest.raises(ConfigError, match="weight"):
        stylizer.stylize(gradient_image(8, 8), [gradient_image(8, 8)], weights=[1.0, 2.0])
    with pytest.raises(ConfigError, match="mask"):
        stylizer.stylize(gradient_image(8, 8), [gradient_image(8, 8)], masks=[torch.rand(2, 1, 8, 8)])


def test_decoder_files_round_trip_and_damaged_files_are_refused(tmp_path: Path) -> None:
    decoder = tiny_decoder(width=8)
    path = save_decoder(decoder, tmp_path / "decoder.safetensors", info={"steps": 3})
    loaded, info = load_decoder(path)
    assert info == {"steps": 3} and loaded.spec == decoder.spec
    features = torch.rand(1, TINY_CHANNELS, 3, 3)
    torch.testing.assert_close(loaded(features), decoder(features), atol=2e-2, rtol=2e-2)  # stored in fp16
    assert read_decoder_metadata(path)[0] == decoder.spec
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="not a readable"):
        load_decoder(tmp_path / "junk.safetensors")
    from painterly.methods.feedforward import NetworkSpec, StyleNetwork
    from painterly.methods.model_files import save_style_network

    other = save_style_network(StyleNetwork(NetworkSpec(width=4, styles=1)), ["a"], tmp_path / "ff.safetensors")
    with pytest.raises(WeightsError, match="not a painterly AdaIN decoder"):
        load_decoder(other)


def test_a_decoder_that_does_not_fit_the_encoder_is_refused() -> None:
    decoder = Decoder(DecoderSpec(width=4, quarter_convs=0, in_channels=16))
    with pytest.raises(WeightsError, match="expects 16 feature channels but the encoder gives 8"):
        ArbitraryStylizer(decoder, encoder=make_tiny_encoder([BOTTLENECK]), device="cpu", precision="fp32")
    with pytest.raises(ConfigError, match="cache_size"):
        tiny_stylizer(cache_size=-1)


def test_style_images_are_checked() -> None:
    stylizer = tiny_stylizer()
    with pytest.raises(ConfigError, match="style 1 must be a"):
        stylizer.stylize(gradient_image(16, 16), [torch.rand(1, 1, 16, 16)])
    with pytest.raises(ConfigError, match="must be numbers"):
        stylizer.stylize(gradient_image(16, 16), [gradient_image(16, 16)], weights=["heavy"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="finite"):
        stylizer.stylize(gradient_image(16, 16), [gradient_image(16, 16)], weights=[float("inf")])


def test_the_cache_keeps_the_latest_styles_and_tells_colour_modes_apart() -> None:
    stylizer = tiny_stylizer(cache_size=2)
    content = gradient_image(24, 32)
    styles = [gradient_image(20, 20, seed=30 + index) for index in range(3)]
    for style in styles:
        stylizer.stylize(content, [style])
    assert len(stylizer._cache) == 2
    stylizer.stylize(content, [styles[2]], options=ArbitraryOptions(color="histogram"))  # the style is recoloured
    assert len(stylizer._cache) == 2
    uncached = tiny_stylizer(cache_size=0)
    uncached.stylize(content, [styles[0]])
    assert not uncached._cache


def test_palette_of_a_blend_is_the_mixture_of_the_pixels() -> None:
    from painterly.image.color import palette

    first, second = gradient_image(16, 16, seed=40), gradient_image(16, 16, seed=41).flip(1) ** 2
    mean, covariance = palette([first, second], [0.5, 0.5])
    pixels = torch.cat([first, second], dim=-1).double().reshape(3, -1)
    torch.testing.assert_close(mean[0], pixels.mean(dim=1, keepdim=True))
    torch.testing.assert_close(covariance[0], torch.cov(pixels, correction=0))


def test_palette_gives_the_result_the_styles_colours() -> None:
    stylizer = tiny_stylizer()
    content = gradient_image(48, 64)
    style = 0.3 + 0.4 * gradient_image(40, 40, seed=42).flip(1)[:, [2, 0, 1]]  # other colours, nothing clipped
    with_palette = stylizer.stylize(content, [style])
    without = stylizer.stylize(content, [style], options=ArbitraryOptions(palette=False))
    style_mean = style.mean(dim=(2, 3))
    assert torch.allclose(with_palette.mean(dim=(2, 3)), style_mean, atol=0.02)
    assert not torch.allclose(without.mean(dim=(2, 3)), style_mean, atol=0.02)
    half = stylizer.stylize(content, [style], options=ArbitraryOptions(alpha=0.5))
    assert half.shape == content.shape
