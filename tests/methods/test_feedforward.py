"""The feed-forward network, its conditional instance norm, model files and the stylizer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from painterly.errors import ConfigError, WeightsError
from painterly.image.color import rgb_to_yiq
from painterly.methods.feedforward import (
    ConditionalInstanceNorm,
    NetworkSpec,
    NormStatistics,
    StyleNetwork,
    blend_weights,
    style_weights,
)
from painterly.methods.model_files import load_style_network, read_style_network_metadata, save_style_network
from painterly.methods.stylizer import NetworkStylizer, StylizeOptions
from tests.conftest import gradient_image

SPECS = [
    NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=9, styles=1),
    NetworkSpec(width=4, residual_blocks=2, downsamplings=3, edge_kernel=5, styles=3),
    NetworkSpec(width=6, residual_blocks=0, downsamplings=1, edge_kernel=3, styles=2),
    NetworkSpec(width=4, residual_blocks=2, downsamplings=3, edge_kernel=9, styles=2, input_skip=True),
]


def randomised(spec: NetworkSpec, seed: int = 0) -> StyleNetwork:
    """A network whose norm rows differ per style (fresh ones are all identity)."""
    torch.manual_seed(seed)
    network = StyleNetwork(spec)
    with torch.no_grad():
        for norm in network.norms():
            norm.scale.uniform_(0.5, 1.5)
            norm.shift.normal_(0, 0.3)
        if spec.input_skip:  # such a network starts as the identity; give its last layer some weights
            network.tail.conv.weight.normal_(0, 0.05)
    return network.eval()


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_forward_backward_on_32px(spec: NetworkSpec) -> None:
    network = randomised(spec)
    image = torch.rand(2, 3, 32, 32)
    weights = style_weights(spec.styles, {0: 1.0}, batch=2)
    output = network(image, weights)
    assert output.shape == image.shape
    output.square().mean().backward()
    for name, parameter in network.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    head_grad = network.head.conv.weight.grad
    assert head_grad is not None and head_grad.abs().sum() > 0
    norm = network.head_norm
    assert norm.scale.grad is not None and norm.scale.grad[0].abs().sum() > 0
    if spec.styles > 1:  # rows of styles not used get no gradient
        assert norm.scale.grad[1:].abs().sum() == 0


def test_gradcheck_conditional_norm() -> None:
    torch.manual_seed(0)
    norm = ConditionalInstanceNorm(3, 2).double()
    with torch.no_grad():
        norm.scale.uniform_(0.5, 1.5)
        norm.shift.normal_()
    features = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.tensor([[0.3, 0.7], [1.0, 0.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: norm(x, weights), (features,))


def test_conditional_norm_matches_plain_reference() -> None:
    torch.manual_seed(1)
    norm = ConditionalInstanceNorm(4, 3)
    with torch.no_grad():
        norm.scale.uniform_(0.5, 1.5)
        norm.shift.normal_()
    features = torch.randn(2, 4, 6, 7)
    weights = torch.tensor([[0.2, 0.0, 0.8], [0.0, 1.0, 0.0]])
    mean = features.mean(dim=(2, 3), keepdim=True)
    std = (features.var(dim=(2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
    scale = (weights @ norm.scale)[:, :, None, None]
    shift = (weights @ norm.shift)[:, :, None, None]
    expected = (features - mean) / std * scale + shift
    torch.testing.assert_close(norm(features, weights), expected, atol=1e-5, rtol=1e-5)
    norm.portable = True
    torch.testing.assert_close(norm(features, weights), expected, atol=1e-5, rtol=1e-5)


def test_blend_one_zero_equals_single_style() -> None:
    network = randomised(SPECS[1])
    image = gradient_image(40, 48)
    single = network(image, style_weights(3, {1: 1.0}))
    blended = network(image, style_weights(3, {1: 1.0, 2: 0.0}))
    assert torch.equal(single, blended)
    other = network(image, style_weights(3, {2: 1.0}))
    assert not torch.allclose(single, other)


def test_blend_interpolates_norm_parameters() -> None:
    network = randomised(SPECS[1])
    image = gradient_image(32, 40)
    blended = network(image, style_weights(3, {0: 0.25, 2: 0.75}))
    with torch.no_grad():  # a network whose style 0 holds the mixed parameters
        for norm in network.norms():
            norm.scale[0] = 0.25 * norm.scale[0] + 0.75 * norm.scale[2]
            norm.shift[0] = 0.25 * norm.shift[0] + 0.75 * norm.shift[2]
    torch.testing.assert_close(blended, network(image, style_weights(3, {0: 1.0})), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [(33, 47), (5, 7), (1, 1), (64, 16), (17, 100)])
def test_odd_sizes_round_trip(size: tuple[int, int]) -> None:
    network = randomised(SPECS[1])
    image = torch.rand(1, 3, *size)
    output = network(image, style_weights(3, {0: 1.0}))
    assert output.shape == image.shape
    assert torch.isfinite(output).all()


def test_tiny_inputs_with_a_large_edge_kernel() -> None:
    network = randomised(NetworkSpec(width=4, residual_blocks=1, downsamplings=1, edge_kernel=9, styles=1))
    image = torch.rand(1, 3, 3, 2)
    assert network(image, style_weights(1, {0: 1.0})).shape == image.shape


def test_style_weights_normalise_and_reject_bad_values() -> None:
    torch.testing.assert_close(style_weights(3, {0: 1.0, 2: 3.0}), torch.tensor([[0.25, 0.0, 0.75]]))
    with pytest.raises(ConfigError, match="out of range"):
        style_weights(3, {3: 1.0})
    with pytest.raises(ConfigError, match="non-negative"):
        style_weights(3, {0: -1.0})
    with pytest.raises(ConfigError, match="all be zero"):
        style_weights(3, {0: 0.0})
    with pytest.raises(ConfigError, match="at least one"):
        style_weights(3, {})
    assert blend_weights(["a", "b"], {"b": 2.0}) == {1: 2.0}
    with pytest.raises(ConfigError, match="unknown style 'c'"):
        blend_weights(["a", "b"], {"c": 1.0})


def test_spec_validation_and_round_trip() -> None:
    spec = NetworkSpec(width=8, residual_blocks=3, downsamplings=3, edge_kernel=9, styles=10)
    assert NetworkSpec.from_dict(spec.as_dict()) == spec
    assert spec.stride == 8
    with pytest.raises(ConfigError, match="odd"):
        NetworkSpec(edge_kernel=4)
    with pytest.raises(ConfigError, match="at most 4 downsamplings"):
        NetworkSpec(downsamplings=5)
    with pytest.raises(ConfigError, match="positive"):
        NetworkSpec(width=0)
    with pytest.raises(ConfigError, match="unknown network spec keys"):
        NetworkSpec.from_dict({"depth": 3})
    with pytest.raises(ConfigError, match="integer"):
        NetworkSpec.from_dict({"width": 2.5})
    with pytest.raises(ConfigError, match="true or false"):
        NetworkSpec.from_dict({"input_skip": 1})
    skip = NetworkSpec(width=4, residual_blocks=1, input_skip=True)
    assert NetworkSpec.from_dict(skip.as_dict()) == skip


def test_input_skip_network_starts_as_the_identity() -> None:
    network = StyleNetwork(NetworkSpec(width=4, residual_blocks=1, downsamplings=2, styles=2, input_skip=True))
    image = gradient_image(21, 30)
    assert torch.equal(network(image, style_weights(2, {1: 1.0})), image)


def test_input_skip_adds_the_image() -> None:
    spec = NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=5, styles=1, input_skip=True)
    network = randomised(spec)
    plain = StyleNetwork(dataclasses.replace(spec, input_skip=False)).eval()
    plain.load_state_dict(network.state_dict())
    image = gradient_image(27, 35)
    weights = style_weights(1, {0: 1.0})
    torch.testing.assert_close(network(image, weights), plain(image, weights) + image)


def test_receptive_radius_bounds_the_influence_of_a_pixel() -> None:
    spec = NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=5, styles=1)
    network = randomised(spec)
    image = torch.rand(1, 3, 96, 96, requires_grad=True)
    network(image, style_weights(1, {0: 1.0}))[0, :, 48, 48].sum().backward()
    assert image.grad is not None
    rows = image.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    reach = max(48 - int(rows.min()), int(rows.max()) - 48)
    # Instance norm couples every pixel weakly through its statistics; the direct (conv) path is what the radius
    # bounds, so compare with the norm statistics frozen.
    statistics = NormStatistics()
    with network.shared_statistics(statistics):
        network(image.detach(), style_weights(1, {0: 1.0}))
        statistics.replay()
        image.grad = None
        network(image, style_weights(1, {0: 1.0}))[0, :, 48, 48].sum().backward()
    rows = image.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    frozen_reach = max(48 - int(rows.min()), int(rows.max()) - 48)
    assert frozen_reach <= spec.receptive_radius + spec.stride
    assert reach >= frozen_reach


def test_statistics_replay_requires_recording() -> None:
    statistics = NormStatistics()
    statistics.replay()
    with pytest.raises(RuntimeError, match="more normalisation layers"):
        statistics.take(torch.rand(1, 2, 3, 3))


def make_stylizer(styles: int = 2, seed: int = 0) -> NetworkStylizer:
    spec = NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=5, styles=styles)
    names = [f"style{index}" for index in range(styles)]
    return NetworkStylizer(randomised(spec, seed), names, device="cpu", precision="fp32")


def test_strength_zero_returns_the_content() -> None:
    stylizer = make_stylizer()
    photo = gradient_image(30, 41)
    assert torch.equal(stylizer.stylize(photo, {"style0": 1.0}, StylizeOptions(strength=0.0)), photo)
    full = stylizer.stylize(photo, {"style0": 1.0})
    half = stylizer.stylize(photo, {"style0": 1.0}, StylizeOptions(strength=0.5))
    torch.testing.assert_close(half, (0.5 * full + 0.5 * photo).clamp(0, 1), atol=1e-5, rtol=0)


def test_tiled_equals_whole_with_shared_statistics() -> None:
    stylizer = make_stylizer()
    photo = gradient_image(200, 296, seed=3)
    weights = stylizer.weights_for({"style1": 1.0})
    whole = stylizer.run(photo, weights)
    tiled = stylizer.run(photo, weights, tile_size=64)
    torch.testing.assert_close(tiled, whole, atol=3e-4, rtol=1e-4)  # fp32 summation order only


def test_large_images_are_tiled_with_statistics_from_a_smaller_copy() -> None:
    from painterly.tiling import tile_grid

    stylizer = make_stylizer()
    photo = gradient_image(260, 300, seed=4)
    weights = stylizer.weights_for({"style0": 1.0})
    whole = stylizer.run(photo, weights)
    bounded = stylizer.run(photo, weights, max_pass_pixels=160 * 160, tile_size=64)
    assert bounded.shape == whole.shape
    naive = torch.empty_like(whole)  # every tile normalised by its own statistics: what shared statistics avoid
    for tile in tile_grid(260, 300, tile=64, halo=stylizer.halo):
        part = stylizer.run(photo[..., tile.py0 : tile.py1, tile.px0 : tile.px1], weights)
        naive[..., tile.y0 : tile.y1, tile.x0 : tile.x1] = part[
            ..., tile.y0 - tile.py0 : tile.y1 - tile.py0, tile.x0 - tile.px0 : tile.x1 - tile.px0
        ]
    assert (bounded - whole).abs().mean() < (naive - whole).abs().mean()


def test_color_luminance_keeps_the_photos_chroma() -> None:
    stylizer = make_stylizer()
    photo = gradient_image(40, 52, seed=5) * 0.8 + 0.1
    result = stylizer.stylize(photo, {"style0": 1.0}, StylizeOptions(color="luminance"))
    chroma = rgb_to_yiq(result)[:, 1:]
    interior = (result > 0.01).all(dim=1, keepdim=True) & (result < 0.99).all(dim=1, keepdim=True)
    difference = (chroma - rgb_to_yiq(photo)[:, 1:]).abs()
    assert difference.masked_select(interior.expand_as(difference)).max() < 1e-4


def test_size_and_style_scale_give_the_requested_output_size() -> None:
    stylizer = make_stylizer()
    photo = gradient_image(60, 90)
    assert stylizer.stylize(photo, {"style0": 1.0}, StylizeOptions(size=45)).shape[-2:] == (30, 45)
    larger_strokes = stylizer.stylize(photo, {"style0": 1.0}, StylizeOptions(style_scale=2.0))
    assert larger_strokes.shape == photo.shape
    assert not torch.allclose(larger_strokes, stylizer.stylize(photo, {"style0": 1.0}))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strength": 1.5}, "strength"),
        ({"color": "histogram"}, "color mode"),
        ({"style_scale": 0.0}, "style_scale"),
        ({"size": 4}, "size"),
        ({"tile_size": 100}, "tile size"),
    ],
)
def test_bad_stylize_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StylizeOptions(**options)  # type: ignore[arg-type]


def test_stylizer_rejects_unknown_style_and_bad_shapes() -> None:
    stylizer = make_stylizer()
    with pytest.raises(ConfigError, match="unknown style"):
        stylizer.stylize(gradient_image(16, 16), {"nope": 1.0})
    with pytest.raises(ConfigError, match=r"\(1, 3, H, W\)"):
        stylizer.stylize(torch.rand(3, 16, 16), {"style0": 1.0})


def test_bf16_output_close_to_fp32() -> None:
    from painterly.devices import cpu_supports_bf16

    if not cpu_supports_bf16():
        pytest.skip("this CPU has no native bf16")
    network = randomised(SPECS[1])
    photo = gradient_image(64, 80)
    fp32 = NetworkStylizer(network, ["a", "b", "c"], device="cpu", precision="fp32").stylize(photo, {"a": 1})
    bf16 = NetworkStylizer(network, ["a", "b", "c"], device="cpu", precision="bf16").stylize(photo, {"a": 1})
    assert (fp32 - bf16).abs().mean() < 0.02


def test_model_file_round_trip(tmp_path: Path) -> None:
    network = randomised(SPECS[1])
    path = save_style_network(network, ["a", "b", "c"], tmp_path / "m.safetensors", info={"steps": 5})
    loaded, names, info = load_style_network(path)
    assert names == ["a", "b", "c"] and info == {"steps": 5} and loaded.spec == network.spec
    image = gradient_image(32, 32)
    weights = style_weights(3, {2: 1.0})
    torch.testing.assert_close(loaded(image, weights), network(image, weights), atol=2e-2, rtol=0)
    spec, names, _ = read_style_network_metadata(path)
    assert spec == network.spec


def test_bad_model_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_style_network(junk)
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(other), metadata={"format": "something-else"})
    with pytest.raises(WeightsError, match="not a painterly feed-forward model"):
        load_style_network(other)
    network = randomised(SPECS[0])
    path = save_style_network(network, ["a"], tmp_path / "m.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    save_file(tensors, str(tmp_path / "names.safetensors"), metadata={**metadata, "styles": '["a", "b"]'})
    with pytest.raises(WeightsError, match="2 names for 1 styles"):
        load_style_network(tmp_path / "names.safetensors")
    tensors.pop("tail.conv.weight")
    save_file(tensors, str(tmp_path / "broken.safetensors"), metadata=metadata)
    with pytest.raises(WeightsError, match="do not fit"):
        load_style_network(tmp_path / "broken.safetensors")
