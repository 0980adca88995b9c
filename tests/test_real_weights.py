"""The converted ImageNet VGG16 against known values and stored golden features; a real end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from painterly import weights
from painterly.cli import main
from painterly.config import GatysConfig
from painterly.encoders.vgg import vgg16
from painterly.methods.gatys import GatysTransfer
from painterly.ops import gram_matrix
from tests.golden.make_vgg16_golden import GOLDEN, LAYERS, compute

pytestmark = pytest.mark.real_weights


def test_known_torchvision_values(real_weights: Path) -> None:
    """torchvision's vgg16 features.0: its first filter and biases, in OIHW orientation (rows are image rows)."""
    state = weights.load_state_dict("vgg16")
    expected_filter = torch.tensor([[-0.5537, 0.1427, 0.5290], [-0.5831, 0.3566, 0.7657], [-0.6902, -0.0480, 0.4841]])
    torch.testing.assert_close(state["conv1_1.weight"][0, 0], expected_filter, atol=1e-4, rtol=0)
    torch.testing.assert_close(
        state["conv1_1.bias"][:5], torch.tensor([0.4034, 0.3778, 0.4644, -0.3228, 0.3940]), atol=1e-4, rtol=0
    )
    assert state["conv5_3.weight"].shape == (512, 512, 3, 3)
    heads = weights.load_state_dict("lpips_vgg16")
    assert all(float(head.min()) >= 0 for head in heads.values())  # LPIPS v0.1 heads are non-negative


def test_features_match_golden_values(real_weights: Path) -> None:
    golden = json.loads(GOLDEN.read_text())
    current = compute()
    for layer in LAYERS:
        assert current[layer]["shape"] == golden[layer]["shape"]
        for key in ("mean", "std"):
            assert current[layer][key] == pytest.approx(golden[layer][key], rel=1e-4), (layer, key)
        assert current[layer]["channel_means_first8"] == pytest.approx(
            golden[layer]["channel_means_first8"], rel=1e-4, abs=1e-6
        )
        assert current[layer]["values"] == pytest.approx(golden[layer]["values"], rel=1e-4, abs=1e-5)


def test_real_transfer_moves_style_statistics(real_weights: Path) -> None:
    from tests.conftest import gradient_image

    content = gradient_image(64, 64)
    style = torch.zeros(1, 3, 64, 64)
    style[:, :, ::8, :] = 1.0  # horizontal stripes
    # 80 iterations: at 40 the reduction sat at the threshold (0.503 of the start, measured) and flipped with load
    config = GatysConfig(size=64, iterations=(80,), device="cpu", tolerance=0.0, strength=0.8)
    result = GatysTransfer(config).run(content, [style])
    encoder = vgg16(layers=["relu2_1"])
    with torch.no_grad():
        target = gram_matrix(encoder(style)["relu2_1"])
        before = float((gram_matrix(encoder(content)["relu2_1"]) - target).pow(2).mean())
        after = float((gram_matrix(encoder(result.image)["relu2_1"]) - target).pow(2).mean())
    assert after < 0.5 * before
    assert result.precision in ("bfloat16", "float32")


def test_cli_end_to_end_with_real_weights(real_weights: Path, tmp_path: Path) -> None:
    from tests.conftest import gradient_image

    for name, tensor in (("content", gradient_image(48, 64)), ("style", torch.rand(1, 3, 40, 40))):
        array = (tensor[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
        Image.fromarray(array).save(tmp_path / f"{name}.png")
    out = tmp_path / "out.png"
    code = main(
        [
            "transfer",
            str(tmp_path / "content.png"),
            str(tmp_path / "style.png"),
            "-o",
            str(out),
            "--size",
            "64",
            "--iterations",
            "10,5",
            "-q",
        ]
    )
    assert code == 0
    assert Image.open(out).size == (64, 48)
    record = json.loads((tmp_path / "out.run.json").read_text())
    assert record["weights_sha256"]["vgg16"] == weights.get_entry("vgg16").sha256
