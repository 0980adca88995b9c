"""Audio style transfer on short synthetic sounds with a small STFT and few filters (fast on one core)."""

from __future__ import annotations

import pytest
import torch

from painterly.audio.spectrogram import log_magnitude
from painterly.audio.synthetic import chirp, melody, noise_bursts, tone
from painterly.audio.transfer import (
    AudioOptions,
    AudioProgress,
    AudioStyleTransfer,
    style_weight_for_strength,
)
from painterly.errors import ConfigError

SMALL = {"n_fft": 256, "hop": 64, "filters": 128, "phase_iterations": 10, "precision": "fp32"}


def small(**changes: object) -> AudioOptions:
    return AudioOptions(**(SMALL | changes))  # type: ignore[arg-type]


def test_the_style_loss_falls_and_the_content_is_kept_in_part() -> None:
    content, style = melody(1.0), noise_bursts(1.0)
    seen: list[AudioProgress] = []
    transfer = AudioStyleTransfer([style], small(iterations=25), content=content)
    result = transfer.run(seen.append)
    style_losses = [p.losses["style"] for p in seen if p.stage == "style"]
    assert len(style_losses) == 25 == result.iterations_run
    assert result.losses["style"] < 0.2 * style_losses[0]
    assert result.losses["content"] > 0  # it moved away from the content ...
    assert [p.iteration for p in seen if p.stage == "phase"] == list(range(1, 11))
    assert result.samples.shape == content.shape and result.samples.dtype == torch.float32
    assert result.samples.abs().max() <= 0.999
    # ... and stays nearer the content's features than the style sound is
    with torch.no_grad():
        style_itself = transfer.losses(log_magnitude(style, transfer.spectrogram))
    assert result.losses["content"] < 0.5 * float(style_itself["content"])


def test_more_strength_takes_more_style() -> None:
    content, style = melody(1.0), noise_bursts(1.0)
    losses = []
    for strength in (0.25, 0.75):
        result = AudioStyleTransfer([style], small(iterations=20, strength=strength), content=content).run()
        losses.append(result.losses)
    assert losses[1]["style"] < losses[0]["style"] and losses[1]["content"] > losses[0]["content"]


def test_strength_maps_to_the_style_weight_over_four_decades() -> None:
    assert style_weight_for_strength(0.75) == pytest.approx(10 * style_weight_for_strength(0.5))
    assert style_weight_for_strength(1.0) == pytest.approx(100 * style_weight_for_strength(0.5))
    assert AudioOptions(strength=0.2, style_weight=7.0).effective_style_weight == 7.0


def test_texture_synthesis_from_noise_matches_the_style_statistics() -> None:
    style = noise_bursts(1.0) + chirp(1000, 3000, 1.0, amplitude=0.1)
    seen: list[float] = []
    transfer = AudioStyleTransfer([style], small(iterations=60, init="noise"), length=30000)
    result = transfer.run(lambda p: seen.append(p.losses["style"]) if p.losses else None)
    assert result.samples.numel() == 30000 and "content" not in result.losses
    assert result.losses["style"] < 0.01 * seen[0]


def test_several_styles_are_blended_by_their_weights() -> None:
    content, low, high = melody(1.0), tone(200, 1.0), tone(3000, 1.0)
    transfer = AudioStyleTransfer([low, high], small(style_blend=(3.0, 1.0), iterations=0), content=content)
    target = transfer.style_targets[0]
    # The blended target's factor holds each style's activations scaled by √(weight / frames).
    frames = transfer.spectrogram.frames(low.numel()) - 10
    assert target.factor.shape[1] == 2 * frames
    alone = AudioStyleTransfer([low], small(iterations=0), content=content).style_targets[0]
    assert torch.allclose(target.factor[:, :frames], alone.factor * 0.75**0.5, atol=1e-6)


def test_runs_repeat_exactly_for_a_seed_and_bf16_runs() -> None:
    content, style = melody(0.5), noise_bursts(0.5)
    first = AudioStyleTransfer([style], small(iterations=5), content=content).run().samples
    again = AudioStyleTransfer([style], small(iterations=5), content=content).run().samples
    other = AudioStyleTransfer([style], small(iterations=5, seed=3), content=content).run().samples
    assert torch.equal(first, again) and not torch.equal(first, other)
    rounded = AudioStyleTransfer([style], small(iterations=5, precision="bf16"), content=content).run()
    assert torch.isfinite(rounded.samples).all()


def test_an_interrupted_run_renders_the_best_so_far() -> None:
    content, style = melody(0.5), noise_bursts(0.5)
    transfer = AudioStyleTransfer([style], small(iterations=50), content=content)

    def stop_at_five(progress: AudioProgress) -> None:
        if progress.iteration == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transfer.run(stop_at_five)
    result = transfer.render_interrupted()
    assert result.interrupted and result.iterations_run == 5
    assert result.samples.shape == content.shape
    assert result.losses["total"] == min(record["total"] for record in transfer.history)


def test_several_kernel_widths_and_noise_start() -> None:
    content, style = melody(0.5), noise_bursts(0.5)
    transfer = AudioStyleTransfer([style], small(iterations=8, kernel_widths=(3, 11), init="noise"), content=content)
    assert len(transfer.style_targets) == 2
    assert transfer.initial_features().abs().max() < 0.01
    assert transfer.run().losses["style"] < transfer.history[0]["style"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strength": 1.5}, "strength must be within 0..1"),
        ({"style_weight": -1.0}, "style weight"),
        ({"style_blend": (0.0, 0.0)}, "not all 0"),
        ({"iterations": -1}, "iterations must be"),
        ({"init": "silence"}, "init must be one of"),
        ({"phase_iterations": -2}, "phase iterations"),
        ({"momentum": 1.0}, "momentum"),
        ({"precision": "fp8"}, "precision must be one of"),
        ({"kernel_widths": (0,)}, "at least 1 frame"),
        ({"n_fft": 300}, "power of two"),
        ({"seed": -1}, "seed must be"),
    ],
)
def test_bad_options(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AudioOptions(**changes)  # type: ignore[arg-type]


def test_bad_sounds() -> None:
    with pytest.raises(ConfigError, match="at least one style"):
        AudioStyleTransfer([], small())
    with pytest.raises(ConfigError, match="too short"):
        AudioStyleTransfer([tone(300, 0.01)], small(), content=melody(0.5))
    with pytest.raises(ConfigError, match="2 style blend weights for 1"):
        AudioStyleTransfer([tone(300, 0.5)], small(style_blend=(1.0, 2.0)), content=melody(0.5))
    with pytest.raises(ConfigError, match="mono"):
        AudioStyleTransfer([tone(300, 0.5)], small(), content=torch.zeros(2, 5000))
