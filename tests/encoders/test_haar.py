"""Haar wavelet pooling, the wavelet encoder and the photorealistic decoder that mirrors it."""

from __future__ import annotations

import pytest
import torch

from painterly.encoders.haar import (
    HaarEncoder,
    PhotoDecoder,
    PhotoDecoderSpec,
    haar_filters,
    haar_pool,
    haar_unpool,
)
from painterly.errors import ConfigError
from tests.conftest import gradient_image, make_tiny_encoder

LEVEL_NAMES = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]


def tiny_haar_encoder() -> HaarEncoder:
    return HaarEncoder(make_tiny_encoder(["relu4_1"]))


def test_pool_then_unpool_reconstructs_exactly() -> None:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 5, 12, 18, generator=generator)
    low, high = haar_pool(features)
    assert low.shape == (2, 5, 6, 9) and high.shape == (2, 15, 6, 9)
    torch.testing.assert_close(haar_unpool(low, high), features, atol=1e-6, rtol=0)
    # orthonormal: the energy is kept
    energy = float(low.pow(2).sum() + high.pow(2).sum())
    assert energy == pytest.approx(float(features.pow(2).sum()), rel=1e-5)


def test_filters_are_orthonormal() -> None:
    filters = haar_filters(torch.float64).reshape(4, 4)
    torch.testing.assert_close(filters @ filters.T, torch.eye(4, dtype=torch.float64))


def test_the_low_band_of_a_constant_is_twice_it_and_the_high_bands_vanish() -> None:
    low, high = haar_pool(torch.full((1, 3, 8, 6), 0.7))
    torch.testing.assert_close(low, torch.full((1, 3, 4, 3), 1.4))
    assert float(high.abs().max()) < 1e-6


def test_odd_sizes_and_mismatched_bands_raise() -> None:
    with pytest.raises(ConfigError, match="Haar pooling needs even sizes, got 7x8"):
        haar_pool(torch.zeros(1, 1, 7, 8))
    with pytest.raises(ConfigError, match="Haar pooling needs even sizes, got 8x5"):
        haar_pool(torch.zeros(1, 1, 8, 5))
    with pytest.raises(ConfigError, match="high bands of shape"):
        haar_unpool(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4))


def test_encoder_returns_skips_levels_and_calls_the_transform_in_order() -> None:
    encoder = tiny_haar_encoder()
    assert encoder.levels == tuple(LEVEL_NAMES)
    image = gradient_image(32, 40)
    plain = encoder(image)
    assert list(plain.levels) == LEVEL_NAMES
    assert [tuple(skip.shape) for skip in plain.skips] == [(1, 12, 16, 20), (1, 24, 8, 10), (1, 24, 4, 5)]
    assert plain.bottleneck.shape == (1, 8, 4, 5)
    assert torch.equal(plain.bottleneck, plain.levels["relu4_1"])
    calls: list[str] = []
    replaced: dict[str, torch.Tensor] = {}

    def transform(name: str, features: torch.Tensor) -> torch.Tensor:
        calls.append(name)
        replaced[name] = features.flip(-1) if name == "relu2_1" else features
        return replaced[name]

    changed = encoder(image, transform)
    assert calls == LEVEL_NAMES
    assert changed.levels["relu2_1"] is replaced["relu2_1"]
    torch.testing.assert_close(changed.levels["relu1_1"], plain.levels["relu1_1"])
    torch.testing.assert_close(changed.levels["relu2_1"], plain.levels["relu2_1"].flip(-1))
    assert not torch.allclose(changed.bottleneck, plain.bottleneck)  # what follows uses the transformed features
    # skips before the transformed level are untouched, the ones after change
    torch.testing.assert_close(changed.skips[0], plain.skips[0])
    assert not torch.allclose(changed.skips[1], plain.skips[1])


def test_encoder_must_end_at_a_relu() -> None:
    with pytest.raises(ConfigError, match="must end at a relu layer, not conv4_1"):
        HaarEncoder(make_tiny_encoder(["conv4_1"]))


def test_photo_decoder_mirrors_the_encoder_and_trains() -> None:
    encoder = tiny_haar_encoder()
    spec = PhotoDecoderSpec.of(encoder)
    assert spec == PhotoDecoderSpec((4, 4, 8, 8, 8, 8, 8, 8), (2, 4, 7), feature_skips=True)
    assert spec.stride == 8 and PhotoDecoderSpec().stride == 8
    torch.manual_seed(0)
    decoder = PhotoDecoder(spec)
    features = encoder(gradient_image(24, 40))
    assert [tuple(item.shape[1:]) for item in features.pooled] == [(4, 24, 40), (8, 12, 20), (8, 6, 10)]
    output = decoder(features.bottleneck, features.skips, features.pooled)
    assert output.shape == (1, 3, 24, 40)
    output.square().mean().backward()
    for name, parameter in decoder.named_parameters():
        assert parameter.grad is not None and bool(torch.isfinite(parameter.grad).all()), name
    assert sum(float(parameter.grad.abs().sum()) for parameter in decoder.parameters() if parameter.grad is not None)
    with pytest.raises(ConfigError, match="the decoder needs 3 skips, got 2"):
        decoder(features.bottleneck, features.skips[:2], features.pooled)
    with pytest.raises(ConfigError, match=r"pass WaveletFeatures\.pooled"):
        decoder(features.bottleneck, features.skips)
    plain = PhotoDecoder(PhotoDecoderSpec.of(encoder, feature_skips=False))
    assert plain(features.bottleneck, features.skips).shape == (1, 3, 24, 40)
    assert sum(p.numel() for p in plain.parameters()) < sum(p.numel() for p in decoder.parameters())


def test_photo_decoder_spec_round_trip_and_bad_settings() -> None:
    spec = PhotoDecoderSpec((4, 4, 8, 8, 8, 8, 8, 8), (2, 4, 7))
    assert spec.as_dict() == {"channels": [4, 4, 8, 8, 8, 8, 8, 8], "pools_after": [2, 4, 7], "feature_skips": False}
    assert PhotoDecoderSpec.from_dict({"channels": [4, 8], "pools_after": [1]}).feature_skips is False
    assert PhotoDecoderSpec.from_dict(dict(spec.as_dict())) == spec
    assert PhotoDecoderSpec.from_dict(dict(PhotoDecoderSpec().as_dict())) == PhotoDecoderSpec()
    bad: list[tuple[dict[str, object], str]] = [
        ({"channels": [4, 8]}, "must be channels, pools_after and feature_skips"),
        ({"channels": [4, 8], "pools_after": [1], "extra": 1}, "must be channels, pools_after and feature_skips"),
        ({"channels": 4, "pools_after": [1]}, "lists of whole numbers"),
        ({"channels": ["four", 8], "pools_after": [1]}, "lists of whole numbers"),
        ({"channels": [4, 8], "pools_after": None}, "lists of whole numbers"),
        ({"channels": [0, 8], "pools_after": [1]}, "widths must be within 1..4096"),
        ({"channels": [], "pools_after": []}, "widths must be within 1..4096"),
        ({"channels": [4, 8, 8], "pools_after": [2, 1]}, r"poolings \(2, 1\) do not fit 3 convolutions"),
        ({"channels": [4, 8, 8], "pools_after": [3]}, r"poolings \(3,\) do not fit 3 convolutions"),
        ({"channels": [4, 8, 8], "pools_after": [1, 1]}, "do not fit"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError, match=message):
            PhotoDecoderSpec.from_dict(data)
