"""Audio style transfer (Ulyanov & Lebedev 2016; Grinstein et al. 2018): optimise a log-magnitude spectrogram
against the Gram matrices of one or more style sounds and the features of a content sound, through a random
1-D convolution, with L-BFGS; then find a phase for it with fast Griffin-Lim.

>>> transfer = AudioStyleTransfer([style], AudioOptions(strength=0.6), content=content)  # doctest: +SKIP
>>> result = transfer.run(progress=print)                                                  # doctest: +SKIP
>>> result.samples  # mono float32 at 22 050 Hz                                            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from ..errors import ConfigError, TrainingError
from .network import (
    PRECISIONS,
    GramTarget,
    NetworkSettings,
    Precision,
    RandomSpectralNetwork,
    content_loss,
    gram_loss,
)
from .phase import DEFAULT_MOMENTUM, DEFAULT_PHASE_ITERATIONS, griffin_lim, unit_phase
from .spectrogram import SpectrogramSettings, log_magnitude, magnitude_from_log, stft

SAMPLE_RATE = 22050
"""Every sound is resampled to this rate before its spectrogram is taken (Ulyanov & Lebedev's)."""
BASE_STYLE_WEIGHT = 10.0
"""Style weight at strength 0.5 (content weight 1; both losses are means, see :mod:`.network`)."""
STRENGTH_DECADES = 4.0
"""Strength moves the style weight over four decades: 0.25 → /10, 0.75 → x10, 1 → x100."""
REFERENCE_LEVEL = 0.1
"""RMS (-20 dBFS) at which content and styles are analysed. The spectrogram that comes out is often louder than the
content (a noisy style adds energy); the result is scaled to the content's RMS (texture: the first style's), never
clipped."""
PEAK_LIMIT = 0.999
"""A result louder than this is scaled down to it, never clipped."""
HISTORY_MEMORY = 1.5e9
"""Bytes that L-BFGS's history may take (two vectors of the spectrogram's size per entry)."""
MAX_HISTORY = 50
NOISE_SCALE = 1e-3
"""Noise start: Gaussian log-magnitudes of this standard deviation (Ulyanov & Lebedev's)."""

InitKind = Literal["content", "noise"]
INIT_KINDS: tuple[InitKind, ...] = ("content", "noise")


def rms_level(samples: Tensor, name: str) -> float:
    """Root mean square of ``samples``; a silent sound has no level to work at."""
    level = float(samples.double().square().mean().sqrt()) if samples.numel() else 0.0
    if not level > 1e-6:
        raise ConfigError(f"{name} is silent: there is nothing to analyse")
    return level


def at_reference_level(samples: Tensor, name: str) -> Tensor:
    """``samples`` scaled to an RMS of :data:`REFERENCE_LEVEL`."""
    return samples.float() * (REFERENCE_LEVEL / rms_level(samples, name))


def style_weight_for_strength(strength: float) -> float:
    """The style weight that the 0–1 ``strength`` stands for (content weight 1)."""
    return float(BASE_STYLE_WEIGHT * 10.0 ** (STRENGTH_DECADES * (strength - 0.5)))


@dataclass(frozen=True)
class AudioOptions:
    """Every option of audio style transfer; validated on construction."""

    strength: float = 0.5
    """0 returns the content untouched; 1 the most style (style weight x100 of 0.5's)."""
    style_weight: float | None = None
    """Overrides ``strength``'s style weight (content weight 1)."""
    style_blend: tuple[float, ...] | None = None
    """One weight per style sound (normalised to sum 1); default equal."""
    iterations: int = 200
    init: InitKind = "content"
    """Start the spectrogram from the content's (Grinstein et al.) or from small noise (Ulyanov & Lebedev)."""
    filters: int = 4096
    kernel_widths: tuple[int, ...] = (11,)
    """Widths in frames of the random filters; several split the filters between them."""
    phase_iterations: int = DEFAULT_PHASE_ITERATIONS
    momentum: float = DEFAULT_MOMENTUM
    seed: int = 0
    """Seeds the random filters, the noise start and the random phase."""
    precision: Precision = "auto"
    """bf16: the convolution's matrix products in bfloat16 (about 1.8x faster on CPUs with AMX / AVX-512 BF16, same
    losses to three digits); auto: bf16 where the CPU has it."""
    n_fft: int = 2048
    hop: int = 512

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"strength must be within 0..1, got {self.strength}")
        if self.style_weight is not None and not (self.style_weight >= 0 and math.isfinite(self.style_weight)):
            raise ConfigError(f"style weight must be a finite number of at least 0, got {self.style_weight}")
        if self.style_blend is not None and (
            any(not (w >= 0 and math.isfinite(w)) for w in self.style_blend) or sum(self.style_blend) <= 0
        ):
            raise ConfigError(f"style blend weights must be at least 0 and not all 0, got {list(self.style_blend)}")
        if self.iterations < 0:
            raise ConfigError(f"iterations must be at least 0, got {self.iterations}")
        if self.init not in INIT_KINDS:
            raise ConfigError(f"init must be one of {', '.join(INIT_KINDS)}, got {self.init!r}")
        if self.phase_iterations < 0:
            raise ConfigError(f"phase iterations must be at least 0, got {self.phase_iterations}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum must be within [0, 1), got {self.momentum}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.seed < 0:
            raise ConfigError(f"seed must be at least 0, got {self.seed}")
        self.network_settings()  # filters and widths
        self.spectrogram_settings()  # n_fft and hop

    @property
    def effective_style_weight(self) -> float:
        return self.style_weight if self.style_weight is not None else style_weight_for_strength(self.strength)

    def network_settings(self) -> NetworkSettings:
        return NetworkSettings(filters=self.filters, kernel_widths=self.kernel_widths, seed=self.seed)

    def spectrogram_settings(self) -> SpectrogramSettings:
        return SpectrogramSettings(n_fft=self.n_fft, hop=self.hop)

    def blend_for(self, styles: int) -> list[float]:
        """The normalised weight of each of ``styles`` style sounds."""
        weights = list(self.style_blend) if self.style_blend is not None else [1.0] * styles
        if len(weights) != styles:
            raise ConfigError(f"{len(weights)} style blend weights for {styles} style sounds")
        total = sum(weights)
        return [weight / total for weight in weights]


@dataclass(frozen=True)
class AudioProgress:
    """What a progress callback receives: after each optimisation iteration (stage ``"style"``) and each
    Griffin-Lim iteration (stage ``"phase"``, losses empty)."""

    stage: Literal["style", "phase"]
    iteration: int
    iterations: int
    losses: dict[str, float]
    elapsed: float


AudioProgressCallback = Callable[[AudioProgress], None]


@dataclass(frozen=True)
class AudioResult:
    samples: Tensor
    """Mono float32 at :data:`SAMPLE_RATE`, as loud (RMS) as the content, peak at most :data:`PEAK_LIMIT`."""
    losses: dict[str, float]
    """The losses of the spectrogram that was rendered (the lowest total seen)."""
    history: list[dict[str, float]]
    iterations_run: int
    timings: dict[str, float]
    gain: float
    """The uniform scale from the level the spectrogram was made at (the content's, when the style adds energy often
    several times louder) to ``samples``: the content's RMS, or less where the peak would pass :data:`PEAK_LIMIT`."""
    peak_limited: bool = False
    """True where the peak limit made the result quieter than the content."""
    interrupted: bool = False


class _BudgetSpentError(Exception):
    """Raised by the L-BFGS closure when every allowed evaluation has been made."""


@dataclass
class _Best:
    features: Tensor
    losses: dict[str, float] = field(default_factory=dict)
    total: float = math.inf


class AudioStyleTransfer:
    """One run: the styles' Gram targets and the content's features are computed once here.

    ``content``: mono samples at :data:`SAMPLE_RATE`, or ``None`` for texture synthesis (then ``length`` samples,
    default the first style's length). ``styles``: one or more mono sounds at the same rate.
    """

    def __init__(
        self,
        styles: Sequence[Tensor],
        options: AudioOptions,
        *,
        content: Tensor | None = None,
        length: int | None = None,
    ) -> None:
        if not styles:
            raise ConfigError("give at least one style sound")
        self.options = options
        self.spectrogram = options.spectrogram_settings()
        settings = options.network_settings()
        widest = settings.widest
        for index, style in enumerate(styles):
            self._check_length(style, f"style sound {index + 1}", widest)
        if content is not None:
            self._check_length(content, "the content", widest)
            if length is not None and length != content.numel():
                raise ConfigError("length is the content's; give it only for texture synthesis")
        # Every sound is analysed at one loudness: the Gram matrices of log-magnitudes carry the level, so a style
        # louder than the content would otherwise be copied as loudness (and scaled away at the end).
        if content is not None:
            self.level = rms_level(content, "the content")
        else:
            self.level = rms_level(styles[0], "style sound 1")
        content = None if content is None else at_reference_level(content, "the content")
        styles = [at_reference_level(style, f"style sound {index + 1}") for index, style in enumerate(styles)]
        self.content = content
        self.length = content.numel() if content is not None else (length or styles[0].numel())
        if content is None:
            self._check_length(torch.zeros(self.length), "the texture", widest)
        self.network = RandomSpectralNetwork(self.spectrogram.bins, settings, precision=options.precision)
        frames = self.spectrogram.frames(self.length)
        with torch.no_grad():
            style_activations = [self.network(log_magnitude(style.float(), self.spectrogram)) for style in styles]
            blend = options.blend_for(len(styles))
            self.style_targets = [
                GramTarget.from_activations([per_style[bank] for per_style in style_activations], blend, frames=frames)
                for bank in range(len(settings.kernel_widths))
            ]
            self.content_features: Tensor | None = None
            self.content_targets: list[Tensor] = []
            if content is not None:
                self.content_features = log_magnitude(content.float(), self.spectrogram)
                self.content_targets = self.network(self.content_features)
        self.best: _Best | None = None

    def _check_length(self, samples: Tensor, name: str, widest: int) -> None:
        if samples.ndim != 1:
            raise ConfigError(f"{name}: expected mono samples of shape (n,), got {tuple(samples.shape)}")
        if self.spectrogram.frames(samples.numel()) < widest:
            shortest = (widest - 1) * self.spectrogram.hop / SAMPLE_RATE
            raise ConfigError(f"{name} is too short: it needs more than {shortest:.2f} s for {widest}-frame kernels")

    @property
    def content_weight(self) -> float:
        return 0.0 if self.content is None else 1.0

    def initial_features(self) -> Tensor:
        if self.content_features is not None and self.options.init == "content":
            return self.content_features.clone()
        generator = torch.Generator().manual_seed(self.options.seed)
        shape = (self.spectrogram.bins, self.spectrogram.frames(self.length))
        return torch.randn(shape, generator=generator) * NOISE_SCALE

    def losses(self, features: Tensor) -> dict[str, Tensor]:
        """``total`` = content weight · content + style weight · style, each summed over the filter banks."""
        activations = self.network(features)
        style = sum(
            (gram_loss(h, target) for h, target in zip(activations, self.style_targets, strict=True)), torch.zeros(())
        )
        terms = {"style": style}
        total = self.options.effective_style_weight * style if self.content is not None else style
        if self.content is not None:
            content = sum(
                (content_loss(h, target) for h, target in zip(activations, self.content_targets, strict=True)),
                torch.zeros(()),
            )
            terms["content"] = content
            total = total + self.content_weight * content
        return {"total": total, **terms}

    def optimise(self, progress: AudioProgressCallback | None = None) -> Tensor:
        """L-BFGS on the log-magnitude spectrogram; returns the best one evaluated. After an interrupt (an exception
        from ``progress``, Ctrl-C) :attr:`best` still holds the best so far."""
        started = time.perf_counter()
        features = self.initial_features().requires_grad_(True)
        self.best = _Best(features=features.detach().clone())
        self.history: list[dict[str, float]] = []
        iterations = self.options.iterations
        history = max(5, min(MAX_HISTORY, int(HISTORY_MEMORY // (8 * features.numel()))))
        # One step() call runs the whole budget: ``iterations`` counts evaluations (each one forward and backward), so
        # the time is known in advance whatever the line search does; strong-Wolfe steps because the Gram loss is
        # quartic in the spectrogram and a fixed step overshoots by orders of magnitude.
        optimizer = torch.optim.LBFGS(
            [features],
            lr=1.0,
            max_iter=max(iterations, 1),
            max_eval=max(iterations, 1),
            history_size=history,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )
        best = self.best
        scale = float(features.numel())

        def closure() -> float:
            if len(self.history) >= iterations:
                raise _BudgetSpentError  # the line search asks for more evaluations than are left
            optimizer.zero_grad()
            terms = self.losses(features)
            # The losses are means, so each element's gradient is tiny; L-BFGS skips curvature pairs with yᵀs below
            # 1e-10 and would crawl. Scaled by the element count, the objective is a sum, as in the reference code.
            objective = terms["total"] * scale
            objective.backward()  # type: ignore[no-untyped-call]
            if features.grad is not None and not features.grad.is_contiguous():
                features.grad = features.grad.contiguous()  # the unfold's gradient; L-BFGS needs a flat view
            values = {name: float(value.detach()) for name, value in terms.items()}
            if not math.isfinite(values["total"]):
                raise TrainingError(f"the loss diverged at iteration {len(self.history) + 1}; lower --strength")
            if values["total"] < best.total:
                best.features, best.losses, best.total = features.detach().clone(), values, values["total"]
            self.history.append({"iteration": float(len(self.history) + 1), **values})
            if progress is not None:
                progress(AudioProgress("style", len(self.history), iterations, values, time.perf_counter() - started))
            return float(objective.detach())

        if iterations == 0:
            with torch.no_grad():
                best.losses = {name: float(value) for name, value in self.losses(features).items()}
        else:
            with contextlib.suppress(_BudgetSpentError):
                optimizer.step(closure)  # type: ignore[no-untyped-call]
        self.optimise_seconds = time.perf_counter() - started
        return best.features

    def render(self, features: Tensor, progress: AudioProgressCallback | None = None) -> tuple[Tensor, float]:
        """Griffin-Lim from the content's phase (or a seeded random one); returns (samples, gain)."""
        started = time.perf_counter()
        initial_phase = None
        if self.content is not None:
            initial_phase = unit_phase(stft(self.content.float(), self.spectrogram))

        def report(iteration: int, iterations: int) -> None:
            if progress is not None:
                progress(AudioProgress("phase", iteration, iterations, {}, time.perf_counter() - started))

        samples = griffin_lim(
            magnitude_from_log(features.detach()),
            self.spectrogram,
            length=self.length,
            iterations=self.options.phase_iterations,
            momentum=self.options.momentum,
            initial_phase=initial_phase,
            seed=self.options.seed,
            progress=report,
        )
        samples = samples * (self.level / REFERENCE_LEVEL)  # the level the spectrogram was made at
        # As loud as the content (RMS); lower where the peak would pass the limit. Uniform: the balance is kept.
        gain = self.level / rms_level(samples, "the result")
        peak = float(samples.abs().max()) * gain
        self.peak_limited = peak > PEAK_LIMIT
        if self.peak_limited:
            gain *= PEAK_LIMIT / peak
        self.render_seconds = time.perf_counter() - started
        return samples * gain, gain

    def run(self, progress: AudioProgressCallback | None = None) -> AudioResult:
        features = self.optimise(progress)
        samples, gain = self.render(features, progress)
        assert self.best is not None
        return AudioResult(
            samples=samples,
            losses=dict(self.best.losses),
            history=list(self.history),
            iterations_run=len(self.history),
            timings={"optimise": self.optimise_seconds, "phase": self.render_seconds},
            gain=gain,
            peak_limited=self.peak_limited,
        )

    def render_interrupted(self, progress: AudioProgressCallback | None = None) -> AudioResult:
        """After an interrupted :meth:`optimise`: the best spectrogram so far, rendered."""
        if self.best is None:
            raise ConfigError("nothing to render: the optimisation has not started")
        samples, gain = self.render(self.best.features, progress)
        return AudioResult(
            samples=samples,
            losses=dict(self.best.losses),
            history=list(self.history),
            iterations_run=len(self.history),
            timings={"phase": self.render_seconds},
            gain=gain,
            peak_limited=self.peak_limited,
            interrupted=True,
        )
