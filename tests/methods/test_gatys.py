"""The optimisation loop on a tiny random encoder: sizes, reproducibility, blending, masks, colours, stopping."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from painterly.config import GatysConfig
from painterly.encoders.vgg import VGGEncoder
from painterly.errors import ConfigError, InputImageError
from painterly.image.color import rgb_to_yiq
from painterly.methods.gatys import GatysTransfer, Progress, _converged
from tests.conftest import gradient_image

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


def run(
    factory: Callable[..., VGGEncoder], content: torch.Tensor, styles: list[torch.Tensor], **options: object
) -> tuple[torch.Tensor, GatysTransfer, list[Progress]]:
    config = GatysConfig.from_mapping(
        {"size": 48, "iterations": (6,), "device": "cpu", "precision": "fp32", "tolerance": 0.0, "init": "content"}
        | options
    )
    transfer = GatysTransfer(config, encoder=factory(LAYERS))
    seen: list[Progress] = []
    result = transfer.run(content, styles, progress=seen.append)
    return result.image, transfer, seen


def red_style() -> torch.Tensor:
    style = torch.zeros(1, 3, 40, 40)
    style[:, 0] = 0.9
    style[:, 1:] = 0.1
    return (style + 0.05 * torch.rand(style.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)


def blue_style() -> torch.Tensor:
    return red_style().flip(1)


def test_pyramid_final_level_has_the_requested_size(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    content = gradient_image(60, 90)
    image, _, seen = run(tiny_encoder_factory, content, [red_style()], size=72, iterations=(3, 2, 2))
    assert image.shape == (1, 3, 48, 72)
    assert [p.level_size for p in seen if p.step == 1] == [(21, 32), (24, 36), (48, 72)]  # 18 px clamps to 32
    assert seen[-1].total_step == 7 and seen[-1].levels == 3


def test_loss_decreases_and_progress_reports_layers(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    _, _, seen = run(tiny_encoder_factory, gradient_image(40, 40), [red_style()], iterations=(15,), init="noise")
    assert seen[-1].losses["total"] < 0.5 * seen[0].losses["total"]
    assert set(seen[0].layer_losses) == {"content/relu4_2", *(f"style/relu{n}_1" for n in (1, 2, 3, 4, 5))}
    assert seen[0].image().shape == (1, 3, 48, 48)


def test_seeded_runs_are_identical(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    content = gradient_image(40, 40)
    first, _, _ = run(tiny_encoder_factory, content, [red_style()], init="mix", seed=7)
    second, _, _ = run(tiny_encoder_factory, content, [red_style()], init="mix", seed=7)
    other, _, _ = run(tiny_encoder_factory, content, [red_style()], init="mix", seed=8)
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_blend_one_zero_equals_single_style(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    content = gradient_image(40, 40)
    single, _, _ = run(tiny_encoder_factory, content, [red_style()])
    blended, _, _ = run(tiny_encoder_factory, content, [red_style(), blue_style()], style_blend=(1.0, 0.0))
    assert torch.equal(single, blended)


def test_masks_confine_each_style_to_its_region(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    content = gradient_image(48, 48)
    left = torch.zeros(1, 1, 48, 48)
    left[..., :24] = 1.0
    config = GatysConfig(
        size=48,
        iterations=(40,),
        device="cpu",
        precision="fp32",
        tolerance=0.0,
        style_weight=1e4,
        content_weight=0.0,
        tv_weight=0.0,
        init="noise",
    )
    transfer = GatysTransfer(config, encoder=tiny_encoder_factory(LAYERS))
    image = transfer.run(content, [red_style(), blue_style()], masks=[left, 1.0 - left]).image
    red_minus_blue = image[:, 0] - image[:, 2]
    assert float(red_minus_blue[..., 4:20].mean()) > 0.1  # left: red style
    assert float(red_minus_blue[..., 28:44].mean()) < -0.1  # right: blue style


def test_luminance_mode_keeps_the_content_chroma(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    content = gradient_image(48, 48) * 0.6 + 0.2
    image, _, _ = run(tiny_encoder_factory, content, [red_style()], color="luminance", init="noise")
    unclipped = ((image > 0.002) & (image < 0.998)).all(dim=1, keepdim=True).expand(1, 2, 48, 48)
    assert float(unclipped.float().mean()) > 0.5
    chroma_out = rgb_to_yiq(image)[:, 1:][unclipped]
    chroma_in = rgb_to_yiq(content)[:, 1:][unclipped]
    assert float((chroma_out - chroma_in).abs().max()) < 1e-5


@pytest.mark.parametrize("init", ["content", "noise", "mix"])
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimizers_and_initialisations(
    tiny_encoder_factory: Callable[..., VGGEncoder], init: str, optimizer: str
) -> None:
    _, _, seen = run(
        tiny_encoder_factory,
        gradient_image(40, 40),
        [red_style()],
        init=init,
        optimizer=optimizer,
        iterations=(20,),
    )
    assert seen[-1].losses["total"] < seen[0].losses["total"]


def test_init_image_is_used(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    config = GatysConfig(size=32, iterations=(0,), device="cpu", precision="fp32")
    transfer = GatysTransfer(config, encoder=tiny_encoder_factory(LAYERS))
    start = torch.rand(1, 3, 32, 32)
    result = transfer.run(gradient_image(32, 32), [red_style()], init_image=start)
    torch.testing.assert_close(result.image, start)


def test_early_stop_on_flat_loss() -> None:
    assert not _converged([100.0 - i for i in range(30)], 1e-3)
    assert not _converged([1000.0 - 10 * i for i in range(40)] + [900.0], 1e-4)  # a spike is not convergence
    assert _converged([1.0] * 30, 1e-4)
    assert not _converged([1.0] * 30, 0.0)


def test_stops_early_when_converged(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    config = GatysConfig(size=32, iterations=(300,), device="cpu", precision="fp32", tolerance=1e-2)
    result = GatysTransfer(config, encoder=tiny_encoder_factory(LAYERS)).run(gradient_image(32, 32), [red_style()])
    assert result.stopped_early == [True] and result.iterations_run[0] < 300


def test_bad_tensors_are_refused(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    transfer = GatysTransfer(GatysConfig(size=32, iterations=(1,), device="cpu"), encoder=tiny_encoder_factory(LAYERS))
    with pytest.raises(ConfigError, match="content must be a"):
        transfer.run(torch.rand(3, 32, 32), [red_style()])
    with pytest.raises(ConfigError, match="at least one style"):
        transfer.run(gradient_image(32, 32), [])
    with pytest.raises(ConfigError, match="1 mask"):
        transfer.run(gradient_image(32, 32), [red_style(), blue_style()], masks=[torch.ones(1, 1, 8, 8)])


def test_encoder_missing_layers_is_refused(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    with pytest.raises(ConfigError, match="does not compute layer"):
        GatysTransfer(GatysConfig(device="cpu"), encoder=tiny_encoder_factory(["relu1_1"]))


def test_tileable_output_wraps(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    def edge_ratio(image: torch.Tensor) -> float:
        inner = (image[..., :, 1:] - image[..., :, :-1]).abs().mean() + (
            image[..., 1:, :] - image[..., :-1, :]
        ).abs().mean()
        wrap = (image[..., :, 0] - image[..., :, -1]).abs().mean() + (image[..., 0, :] - image[..., -1, :]).abs().mean()
        return float(wrap / inner)

    stripes = torch.zeros(1, 3, 40, 40)
    stripes[:, :, :, ::5] = 1.0
    options = {"size": 48, "iterations": (40,), "init": "noise", "content_weight": 0.0, "style_weight": 1e4}
    tiled, _, _ = run(tiny_encoder_factory, gradient_image(48, 48), [stripes], tileable=True, **options)
    assert edge_ratio(tiled) < 1.5  # across the wrap the image continues like anywhere inside


def test_too_thin_images_are_refused_and_thin_styles_enlarged(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    transfer = GatysTransfer(GatysConfig(size=64, iterations=(2,), device="cpu"), encoder=tiny_encoder_factory(LAYERS))
    with pytest.raises(ConfigError, match="needs at least 16 px on the short side"):
        transfer.run(torch.rand(1, 3, 20, 200), [red_style()])
    result = transfer.run(gradient_image(48, 64), [torch.rand(1, 3, 8, 200)])  # a 64 px style would be 2 px high
    assert result.image.shape == (1, 3, 48, 64)
    assert result.start == "content"  # too thin for WCT: the automatic start falls back to the content


def test_automatic_start_is_wct_where_it_can_be(
    tiny_encoder_factory: Callable[..., VGGEncoder], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, tuple[int, int]]] = []
    refuse = False

    def fake_start(kind: str, content: torch.Tensor, styles: object, *, size: tuple[int, int], **_: object):  # type: ignore[no-untyped-def]
        calls.append((kind, size))
        if refuse:
            raise InputImageError("WCT refuses this")
        return torch.full((1, 3, *size), 0.25)

    monkeypatch.setattr("painterly.methods.gatys.one_pass_start", fake_start)

    def start_of(**options: object) -> tuple[str, torch.Tensor]:
        config = GatysConfig.from_mapping({"size": 48, "iterations": (0,), "device": "cpu", **options})
        result = GatysTransfer(config, encoder=tiny_encoder_factory(LAYERS)).run(gradient_image(36, 48), [red_style()])
        return result.start, result.image

    assert GatysConfig().init == "auto"
    start, image = start_of()
    assert start == "wct" and calls == [("wct", (36, 48))]
    torch.testing.assert_close(image, torch.full((1, 3, 36, 48), 0.25))
    assert start_of(tileable=True)[0] == "content" and len(calls) == 1  # WCT's result would not wrap
    refuse = True
    start, image = start_of()
    assert start == "content" and len(calls) == 2
    torch.testing.assert_close(image, gradient_image(36, 48))
    with pytest.raises(InputImageError, match="WCT refuses this"):  # asked for by name: no quiet fallback
        start_of(init="wct")


def test_reported_losses_belong_to_the_returned_image(tiny_encoder_factory: Callable[..., VGGEncoder]) -> None:
    config = GatysConfig(size=48, iterations=(12,), device="cpu", precision="fp32", tolerance=0.0, init="noise")
    seen: list[Progress] = []
    result = GatysTransfer(config, encoder=tiny_encoder_factory(LAYERS)).run(
        gradient_image(48, 48), [red_style()], progress=seen.append
    )
    assert result.losses["total"] == min(p.losses["total"] for p in seen)
    assert not result.diverged
