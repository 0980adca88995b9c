"""Universal style transfer (WCT): the coarse-to-fine cascade on tiny random networks."""

from __future__ import annotations

import pytest
import torch

from painterly.errors import ConfigError, InputImageError, WeightsError
from painterly.methods.decoders import LEVELS, Decoder, decoder_for_level, level_of
from painterly.methods.wct import (
    CASCADE,
    DEFAULT_LEVELS,
    LevelEncoder,
    WCTOptions,
    WCTStylizer,
    parse_alphas,
    parse_levels,
)
from painterly.ops import pad_to_multiple
from tests.conftest import gradient_image, he_initialised, make_tiny_encoder

TINY_LEVEL_CHANNELS = {"relu1_1": 4, "relu2_1": 8, "relu3_1": 8, "relu4_1": 8}
"""Channels of the tiny VGG16's relu{k}_1."""


def tiny_wct_decoders(seed: int = 0) -> dict[str, Decoder]:
    """One random (He-initialised, so the signal survives) decoder per level for the tiny VGG16."""
    decoders = {}
    for layer in LEVELS:
        torch.manual_seed(seed + level_of(layer))
        decoder = decoder_for_level(level_of(layer), width=4, quarter_convs=0, in_channels=TINY_LEVEL_CHANNELS[layer])
        decoders[layer] = he_initialised(decoder, bias=0.02)
    return decoders


def tiny_wct(**kwargs: object) -> WCTStylizer:
    return WCTStylizer(
        tiny_wct_decoders(),
        encoder=make_tiny_encoder(list(LEVELS)),
        device="cpu",
        precision="fp32",
        **kwargs,  # type: ignore[arg-type]
    )


def style_image(height: int = 40, width: int = 48, seed: int = 1) -> torch.Tensor:
    return gradient_image(height, width, seed=seed).flip(-1) ** 2


def test_options_parse_levels_into_cascade_order() -> None:
    assert CASCADE == ("relu4_1", "relu3_1", "relu2_1", "relu1_1")
    assert WCTOptions().levels == DEFAULT_LEVELS == ("relu3_1", "relu2_1", "relu1_1") and WCTOptions().alpha == 1.0
    assert WCTOptions(levels="relu2_1,relu4_1").levels == ("relu4_1", "relu2_1")  # type: ignore[arg-type]
    assert WCTOptions(levels=["relu1_1", "relu3_1"]).levels == ("relu3_1", "relu1_1")  # type: ignore[arg-type]
    assert parse_levels(" relu1_1 , relu2_1,") == ("relu2_1", "relu1_1")
    options = WCTOptions(levels="relu2_1,relu4_1", level_alphas="1,0.25")  # type: ignore[arg-type]
    assert options.level_alphas == (0.25, 1.0)  # each alpha stays with the level it was given for
    assert options.alpha_at("relu4_1") == 0.25 and options.alpha_at("relu2_1") == 1.0
    assert WCTOptions(alpha=0.3).alpha_at("relu1_1") == 0.3
    assert parse_alphas(None) is None and parse_alphas([0, 1]) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"level_alphas": "1,0.5"}, r"give one level alpha per level: 2 for 3 \(relu3_1, relu2_1, relu1_1\)"),
        ({"levels": "relu4_1", "level_alphas": (1.0, 1.0)}, "give one level alpha per level: 2 for 1"),
        ({"level_alphas": "1,0.5,x,1"}, "level alphas must be numbers, got '1,0.5,x,1'"),
        ({"level_alphas": "1,2,0,0"}, r"level alphas must be numbers within 0\.\.1"),
        ({"level_alphas": ""}, r"level alphas must be numbers within 0\.\.1"),
        ({"levels": "relu5_1"}, "unknown decoder level 'relu5_1'"),
        ({"levels": "conv1_1,relu2_1"}, "unknown decoder level 'conv1_1'"),
        ({"levels": " , "}, "choose at least one WCT level"),
        ({"levels": "relu2_1,relu2_1"}, "WCT levels repeat: relu2_1, relu2_1"),
        ({"alpha": 1.5}, r"alpha must be within 0\.\.1, got 1\.5"),
        ({"tile_size": 70}, "tile size must be a multiple of 16"),
        ({"color": "sepia"}, "unknown color mode 'sepia'"),
    ],
)
def test_bad_options_raise(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WCTOptions(**values)  # type: ignore[arg-type]


def test_output_has_the_photos_odd_size_and_timings_have_their_stages() -> None:
    stylizer = tiny_wct()
    content = gradient_image(37, 53)
    result = stylizer.stylize(content, [style_image()], options=WCTOptions(alpha=1.0))
    assert result.shape == (1, 3, 37, 53) and result.dtype == torch.float32
    assert float(result.min()) >= 0 and float(result.max()) <= 1
    assert not torch.allclose(result, content, atol=0.05)
    assert set(stylizer.timings) == {"style", "encode", "transform", "decode", "colors"}
    assert all(seconds >= 0 for seconds in stylizer.timings.values())
    assert stylizer.timings["encode"] > 0 and stylizer.timings["decode"] > 0
    smaller = stylizer.stylize(content, [style_image()], options=WCTOptions(size=32, color="luminance"))
    assert smaller.shape == (1, 3, 22, 32)


def test_progress_reports_each_level_coarse_to_fine() -> None:
    seen: list[dict[str, object]] = []
    tiny_wct().stylize(
        gradient_image(24, 24),
        [style_image()],
        options=WCTOptions(levels="relu1_1,relu3_1"),  # type: ignore[arg-type]
        progress=seen.append,
    )
    assert seen == [{"level": "relu3_1", "done": 1, "of": 2}, {"level": "relu1_1", "done": 2, "of": 2}]


def test_tiles_give_the_untiled_result() -> None:
    # the halo is 64 px: a tile of 64 sees less than the whole picture only when the picture is wider than 192 px
    stylizer = tiny_wct()
    content, style = gradient_image(100, 280, seed=4), style_image(48, 40)
    whole = stylizer.stylize(content, [style], options=WCTOptions(alpha=1.0))
    widths: list[int] = []
    run = stylizer._run

    def recording(module: torch.nn.Module, tensor: torch.Tensor) -> torch.Tensor:
        widths.append(int(tensor.shape[-1]) * (1 if tensor.shape[1] == 3 else 0))
        return run(module, tensor)

    stylizer._run = recording  # type: ignore[method-assign]
    tiled = stylizer.stylize(content, [style], options=WCTOptions(alpha=1.0, tile_size=64))
    assert 0 < max(widths) < 280  # the encoder really saw parts of the picture
    assert tiled.shape == whole.shape == (1, 3, 100, 280)
    assert float((tiled - whole).abs().max()) <= 1e-4


def reconstruction_cascade(stylizer: WCTStylizer, content: torch.Tensor, levels: tuple[str, ...]) -> torch.Tensor:
    """Each level's decoder run on the unmodified features of the previous level's picture."""
    encoder = next(iter(stylizer.encoders.values())).encoder
    picture = content
    height, width = content.shape[-2:]
    with torch.no_grad():
        for layer in levels:
            features = LevelEncoder(encoder, layer)(pad_to_multiple(picture, 8))
            picture = stylizer.decoders[layer](features)[..., :height, :width].clamp(0, 1)
    return picture


def test_alpha_zero_is_the_cascade_of_reconstructions() -> None:
    stylizer = tiny_wct()
    content = gradient_image(37, 45, seed=2)
    zero = stylizer.stylize(content, [style_image()], options=WCTOptions(alpha=0.0, levels=CASCADE))
    expected = reconstruction_cascade(stylizer, content, CASCADE)
    torch.testing.assert_close(zero, expected, atol=1e-5, rtol=0)
    by_level = WCTOptions(alpha=1.0, levels=CASCADE, level_alphas=(0.0, 0.0, 0.0, 0.0))
    torch.testing.assert_close(stylizer.stylize(content, [style_image()], options=by_level), zero, atol=1e-6, rtol=0)
    two = WCTOptions(alpha=0.0, levels=("relu3_1", "relu1_1"))
    torch.testing.assert_close(
        stylizer.stylize(content, [style_image()], options=two),
        reconstruction_cascade(stylizer, content, ("relu3_1", "relu1_1")),
        atol=1e-5,
        rtol=0,
    )


def test_level_alphas_override_alpha() -> None:
    stylizer = tiny_wct()
    content, style = gradient_image(32, 40, seed=3), style_image()
    full = stylizer.stylize(content, [style], options=WCTOptions(alpha=1.0, levels=CASCADE))
    ones = stylizer.stylize(content, [style], options=WCTOptions(alpha=0.0, levels=CASCADE, level_alphas=(1, 1, 1, 1)))
    torch.testing.assert_close(ones, full, atol=1e-6, rtol=0)
    mixed = stylizer.stylize(content, [style], options=WCTOptions(alpha=1.0, levels=CASCADE, level_alphas=(1, 0, 0, 0)))
    assert not torch.allclose(mixed, full, atol=1e-3)


def test_blends_masks_and_the_style_cache() -> None:
    stylizer = tiny_wct()
    content = gradient_image(32, 48, seed=5)
    first, second = style_image(), style_image(40, 40, seed=6).flip(-2) ** 0.5
    options = WCTOptions(alpha=1.0)
    alone = stylizer.stylize(content, [first], options=options)
    torch.testing.assert_close(
        stylizer.stylize(content, [first, second], weights=[1.0, 0.0], options=options), alone, atol=1e-5, rtol=0
    )
    mask = torch.zeros(1, 1, 32, 48)
    mask[..., :24] = 1.0
    masked = stylizer.stylize(content, [first, second], masks=[mask, 1 - mask], options=options)
    assert masked.shape == (1, 3, 32, 48)
    assert len(stylizer._cache) == 2 * len(DEFAULT_LEVELS)
    with pytest.raises(ConfigError, match="style weights and masks cannot be combined"):
        stylizer.stylize(content, [first, second], weights=[0.3, 0.7], masks=[mask, 1 - mask], options=options)


def test_bad_inputs_raise() -> None:
    stylizer = tiny_wct()
    content = gradient_image(32, 32)
    with pytest.raises(InputImageError, match="style 1 is 40x20 px: WCT needs at least 32 px on each side"):
        stylizer.stylize(content, [style_image(20, 40)])
    with pytest.raises(InputImageError, match="style 2 is 31x40 px"):
        stylizer.stylize(content, [style_image(), style_image(40, 31)])
    mask = torch.ones(1, 1, 32, 32)
    with pytest.raises(ConfigError, match=r"got 2 mask\(s\) for 1 style image\(s\)"):
        stylizer.stylize(content, [style_image()], masks=[mask, mask])
    with pytest.raises(ConfigError, match=r"got 1 mask\(s\) for 2 style image\(s\)"):
        stylizer.stylize(content, [style_image(), style_image()], masks=[mask])
    with pytest.raises(ConfigError, match=r"got 3 style weight\(s\) for 1 style image\(s\)"):
        stylizer.stylize(content, [style_image()], weights=[1.0, 1.0, 1.0])
    partial = WCTStylizer(
        {"relu4_1": tiny_wct_decoders()["relu4_1"]},
        encoder=make_tiny_encoder(list(LEVELS)),
        device="cpu",
        precision="fp32",
    )
    with pytest.raises(WeightsError, match="the decoder set has no decoder for relu3_1, relu2_1, relu1_1"):
        partial.stylize(content, [style_image()])
    assert partial.stylize(content, [style_image()], options=WCTOptions(levels=("relu4_1",))).shape == (1, 3, 32, 32)


def test_decoders_must_fit_their_level_and_the_encoder() -> None:
    encoder = make_tiny_encoder(list(LEVELS))
    decoders = tiny_wct_decoders()
    with pytest.raises(WeightsError, match="no WCT decoders given"):
        WCTStylizer({}, encoder=encoder, device="cpu")
    with pytest.raises(WeightsError, match="the decoder filed for relu3_1 is a level-2 decoder"):
        WCTStylizer({"relu3_1": decoders["relu2_1"]}, encoder=encoder, device="cpu")
    wide = decoder_for_level(2, width=4, in_channels=16)
    with pytest.raises(WeightsError, match="the relu2_1 decoder expects 16 channels but the encoder gives 8"):
        WCTStylizer({"relu2_1": wide}, encoder=encoder, device="cpu")
    with pytest.raises(ConfigError, match="cache_size must be >= 0"):
        WCTStylizer(decoders, encoder=encoder, device="cpu", cache_size=-1)


def test_masks_must_have_the_photos_shape() -> None:
    stylizer = tiny_wct()
    with pytest.raises(InputImageError, match="mask 1 is 40x20 px but the photo is 48x40"):
        stylizer.stylize(gradient_image(40, 48), [gradient_image(40, 40)], masks=[torch.ones(1, 1, 20, 40)])
    result = stylizer.stylize(gradient_image(40, 48), [gradient_image(40, 40)], masks=[torch.ones(1, 1, 80, 96)])
    assert result.shape == (1, 3, 40, 48)
