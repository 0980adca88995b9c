"""Warping error E_warp (Lai et al. 2018, "Learning Blind Video Temporal Consistency"): how much a processed video
changes between frames beyond what the input's motion explains.

For each pair (t, t+1), with F the flow input_t → input_{t+1} and M its consistency mask against the flow
input_{t+1} → input_t (1 on the pixels visible in both frames):

    E(t) = Σ_x M(x) ‖output_t(x) − output_{t+1}(x + F(x))‖² / Σ_x M(x)

with the squared norm summed over the RGB channels of pixels in [0, 1]; E_warp is the mean of E(t) over the
pairs. Lai et al.'s script divides by the mask summed over three channels, so its values are a third of these;
their published numbers used FlowNet2 flow and do not reproduce here, so compare videos by our own DIS flow only.
A pair with no reliable pixel counts as 0 (as in their script).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError
from .flow import FlowEstimator, consistency_mask, to_grey, warp_by_flow

Tensor = torch.Tensor


@dataclass(frozen=True)
class WarpingError:
    """E_warp of a clip: ``mean`` over the ``pairs`` of consecutive frames, each pair's error in ``per_pair`` and
    ``masked_share``, the mean share of pixels the consistency mask leaves out (occluded or unreliable flow)."""

    mean: float
    per_pair: list[float]
    pairs: int
    masked_share: float


class WarpingErrorMeter:
    """E_warp accumulated frame by frame: ``update(input_frame, output_frame)`` for each frame in order, then
    ``result()``. Keeps only the previous frame pair, so memory does not grow with the clip's length (apart
    from one float per pair). Without an ``estimator`` it makes a ``FlowEstimator()`` (DIS "medium")."""

    def __init__(self, estimator: FlowEstimator | None = None) -> None:
        self.estimator = estimator if estimator is not None else FlowEstimator()
        self._previous_grey: np.ndarray | None = None
        self._previous_output: Tensor | None = None
        self._per_pair: list[float] = []
        self._masked: list[float] = []

    def update(self, input_frame: Tensor, output_frame: Tensor) -> float | None:
        """Add the next frame: the input (what the flow is measured on) and the processed output, both
        (1, 3, H, W) of the same size. Returns the error of the pair it closes, ``None`` for the first frame."""
        _check_frame("input frame", input_frame)
        _check_frame("output frame", output_frame)
        if tuple(input_frame.shape[-2:]) != tuple(output_frame.shape[-2:]):
            raise ConfigError(
                f"output frame {_size(output_frame)} differs in size from its input frame {_size(input_frame)};"
                " resize the output to the input's size first"
            )
        grey = to_grey(input_frame)
        output = output_frame.detach().to(dtype=torch.float32)
        previous_grey, previous_output = self._previous_grey, self._previous_output
        if previous_grey is not None and previous_grey.shape != grey.shape:
            raise ConfigError(
                f"frame size changed from {previous_grey.shape[1]}x{previous_grey.shape[0]} to {_size(input_frame)}"
            )
        self._previous_grey, self._previous_output = grey, output
        if previous_grey is None or previous_output is None:
            return None
        forward, backward = self.estimator.both(previous_grey, grey)  # input_t → input_{t+1}, and back
        mask = torch.from_numpy(consistency_mask(forward, backward)).to(output.device)  # (H, W) in frame t
        warped = warp_by_flow(output, forward)  # output_{t+1} brought back to frame t
        squared = (previous_output - warped).square().sum(dim=1)[0]  # (H, W), summed over RGB
        reliable = float(mask.sum())
        error = float((mask * squared).sum()) / reliable if reliable > 0 else 0.0
        self._per_pair.append(error)
        self._masked.append(1.0 - reliable / mask.numel())
        return error

    def result(self) -> WarpingError:
        """E_warp over the pairs seen so far (ConfigError before the second frame)."""
        if not self._per_pair:
            raise ConfigError("the warping error needs at least two frames")
        pairs = len(self._per_pair)
        return WarpingError(
            mean=sum(self._per_pair) / pairs,
            per_pair=list(self._per_pair),
            pairs=pairs,
            masked_share=sum(self._masked) / pairs,
        )


def warping_error(
    inputs: Iterable[Tensor], outputs: Iterable[Tensor], *, estimator: FlowEstimator | None = None
) -> WarpingError:
    """E_warp of ``outputs`` against the motion of ``inputs`` (two equally long sequences of (1, 3, H, W) frames)."""
    meter = WarpingErrorMeter(estimator)
    input_iter, output_iter = iter(inputs), iter(outputs)
    count = 0
    while True:
        input_frame = next(input_iter, None)
        output_frame = next(output_iter, None)
        if input_frame is None and output_frame is None:
            break
        if input_frame is None or output_frame is None:
            longer = "outputs" if input_frame is None else "inputs"
            raise ConfigError(f"inputs and outputs differ in length: {longer} go on after frame {count}")
        meter.update(input_frame, output_frame)
        count += 1
    if count == 0:
        raise ConfigError("the warping error needs at least two frames, got none")
    return meter.result()


def _size(frame: Tensor) -> str:
    return f"{frame.shape[-1]}x{frame.shape[-2]}"


def _check_frame(name: str, frame: Tensor) -> None:
    if not isinstance(frame, Tensor) or frame.dim() != 4 or frame.shape[0] != 1 or frame.shape[1] != 3:
        shape = tuple(frame.shape) if isinstance(frame, Tensor) else type(frame).__name__
        raise ConfigError(f"{name} must be a (1, 3, H, W) tensor, got {shape}")
