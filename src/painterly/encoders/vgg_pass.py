"""A VGG forward pass kept for a hand-written backward: what the optimisation loop needs and nothing more.

Autograd over :class:`~.vgg.VGGEncoder` under autocast spends most of a bf16 iteration outside the convolutions: it
casts the fp32 weights on every call, runs ReLU as a separate pass, sums the gradients of features that feed both a
loss and the next layer in extra buffers, and back-propagates a Gram matrix with two products. Here instead:

- the weights are cast once (to the compute dtype and memory layout) when the pass is built;
- each convolution whose raw output no loss reads runs with its ReLU fused in (oneDNN's post-op on the CPU);
- the backward is a plain loop over the layers in reverse: ReLU masks the gradient in place, the convolution
  computes only the gradient of its input (never of the frozen weights), pooling routes it back;
- at a tapped layer the caller adds the loss's gradient into the running gradient in place (:meth:`VGGPass.backward`),
  so no autograd graph, no accumulation buffers.

Only the image's gradient is produced. The result matches autograd through the same network (tests compare them);
circular padding (tileable output) is not handled here, the loop falls back to autograd for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .vgg import VGGEncoder

Tensor = torch.Tensor
GradientHook = Callable[[str, Tensor | None], Tensor | None]
"""Called at each tapped layer during the backward, deepest first, with the gradient arriving from the layers above
(None at the deepest tap); returns the gradient with the layer's loss gradient added (may update it in place)."""


@dataclass(frozen=True)
class _Conv:
    name: str
    weight: Tensor
    bias: Tensor


@dataclass
class _Step:
    """One layer of a recorded forward: its kind, name and what its backward needs."""

    kind: str  # "conv", "relu", "maxpool", "avgpool"
    name: str
    saved: Tensor
    """conv: its input (for the shape); relu: its output (the mask); pooling: its input."""
    conv: _Conv | None = None
    indices: Tensor | None = None
    pooled: Tensor | None = None
    """maxpool after an untapped ReLU: its output, whose sign masks the gradient in place of that ReLU's."""
    folded: bool = False
    """relu: its mask is applied by the max pooling after it (see :meth:`VGGPass.backward`)."""


def supports_fast_pass(encoder: nn.Module) -> bool:
    """True when :class:`FastVGG` can run ``encoder``: a VGG encoder with zero padding (not circular)."""
    if not isinstance(encoder, VGGEncoder):
        return False
    return all(
        module.padding_mode == "zeros" and module.stride == (1, 1) and module.padding == (1, 1)
        for module in encoder.body.modules()
        if isinstance(module, nn.Conv2d)
    )


def _fused_conv_relu_available(device: torch.device) -> bool:
    return (
        device.type == "cpu"
        and torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
        and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
    )


class FastVGG:
    """``encoder``'s layers in ``dtype`` and ``memory_format``, run by :meth:`forward` into a :class:`VGGPass`.

    The normalisation stays in fp32 (three channels); everything after it runs in ``dtype``.
    """

    def __init__(
        self,
        encoder: VGGEncoder,
        *,
        dtype: torch.dtype,
        memory_format: torch.memory_format = torch.channels_last,
        fuse_relu: bool | None = None,
    ) -> None:
        if not supports_fast_pass(encoder):
            raise ConfigError("the fast VGG pass needs a VGG encoder with zero padding")
        self.dtype, self.memory_format = dtype, memory_format
        self.mean, self.std = encoder.mean.detach().float(), encoder.std.detach().float()
        self.device = self.mean.device
        self.fuse_relu = _fused_conv_relu_available(self.device) if fuse_relu is None else fuse_relu
        self.layers: list[tuple[str, nn.Module | _Conv]] = []
        for name, module in encoder.body.named_children():
            if isinstance(module, nn.Conv2d):
                assert module.bias is not None
                weight = module.weight.detach().to(dtype).contiguous(memory_format=memory_format)
                self.layers.append((name, _Conv(name, weight, module.bias.detach().to(dtype))))
            else:
                self.layers.append((name, module))
        self.names = [name for name, _ in self.layers]

    def forward(self, image: Tensor, layers: Sequence[str]) -> VGGPass:
        """Run ``image`` (1, 3, H, W) float in [0, 1] up to the deepest of ``layers``; the pass keeps their features
        and what the backward needs."""
        unknown = [layer for layer in layers if layer not in self.names]
        if unknown:
            raise ConfigError(f"the encoder does not compute layer(s) {', '.join(unknown)}")
        wanted = set(layers)
        deepest = max(self.names.index(layer) for layer in layers)
        steps: list[_Step] = []
        features: dict[str, Tensor] = {}
        with torch.no_grad():
            x = ((image.float() - self.mean) / self.std).to(self.dtype).contiguous(memory_format=self.memory_format)
            index = 0
            while index <= deepest:
                name, layer = self.layers[index]
                if isinstance(layer, _Conv):
                    relu_name = self.names[index + 1] if index + 1 <= deepest else None
                    fuse = relu_name is not None and relu_name.startswith("relu") and name not in wanted
                    steps.append(_Step("conv", name, x, conv=layer))
                    if fuse and self.fuse_relu:
                        assert relu_name is not None
                        x = torch.ops.mkldnn._convolution_pointwise(
                            x, layer.weight, layer.bias, [1, 1], [1, 1], [1, 1], 1, "relu", [None], ""
                        )
                        steps.append(_Step("relu", relu_name, x))
                        index += 1
                        name = relu_name
                    else:
                        x = F.conv2d(x, layer.weight, layer.bias, padding=1)
                elif isinstance(layer, nn.ReLU):
                    x = torch.relu(x) if self.names[index - 1] in wanted else torch.relu_(x)
                    steps.append(_Step("relu", name, x))
                elif isinstance(layer, nn.MaxPool2d):
                    pooled, indices = torch.ops.aten.max_pool2d_with_indices(x, [2, 2], [2, 2])
                    previous = steps[-1] if steps else None
                    fold = previous is not None and previous.kind == "relu" and previous.name not in wanted
                    if fold:
                        assert previous is not None
                        previous.folded = True
                    steps.append(_Step("maxpool", name, x, indices=indices, pooled=pooled if fold else None))
                    x = pooled
                else:
                    steps.append(_Step("avgpool", name, x))
                    x = F.avg_pool2d(x, 2, 2)
                if name in wanted:
                    features[name] = x
                index += 1
        return VGGPass(features, steps, self.std)


class VGGPass:
    """One recorded forward pass: :attr:`features` of the tapped layers, and :meth:`backward`."""

    def __init__(self, features: dict[str, Tensor], steps: list[_Step], std: Tensor) -> None:
        self.features = features
        self._steps = steps
        self._std = std

    def backward(self, add_gradient: GradientHook) -> Tensor | None:
        """The gradient of the caller's loss with respect to the image, (1, 3, H, W) fp32, given the loss's gradient
        at each tapped layer through ``add_gradient``; None when no layer passed a gradient. The pass's buffers are
        released as the loop goes (call it once)."""
        gradient: Tensor | None = None
        steps, self._steps = self._steps, []
        while steps:
            step = steps.pop()
            if step.name in self.features:
                gradient = add_gradient(step.name, gradient)
            if gradient is None:
                continue
            if step.kind == "relu":
                if not step.folded:
                    gradient = torch.ops.aten.threshold_backward.grad_input(
                        gradient, step.saved, 0, grad_input=gradient
                    )
            elif step.kind == "conv":
                assert step.conv is not None
                gradient = torch.ops.aten.convolution_backward(
                    gradient,
                    step.saved,
                    step.conv.weight,
                    None,
                    [1, 1],
                    [1, 1],
                    [1, 1],
                    False,
                    [0, 0],
                    1,
                    [True, False, False],
                )[0]
            elif step.kind == "maxpool":
                if step.pooled is not None:
                    # The ReLU before this pooling, masked at a quarter of its size: a window's maximum is the only
                    # input that receives gradient, and it is positive exactly where the pooled value is.
                    gradient = torch.ops.aten.threshold_backward.grad_input(
                        gradient, step.pooled, 0, grad_input=gradient
                    )
                gradient = torch.ops.aten.max_pool2d_with_indices_backward(
                    gradient, step.saved, [2, 2], [2, 2], [0, 0], [1, 1], False, step.indices
                )
            else:
                gradient = torch.ops.aten.avg_pool2d_backward(
                    gradient, step.saved, [2, 2], [2, 2], [0, 0], False, True, None
                )
        self.features = {}
        if gradient is None:
            return None
        return gradient.float() / self._std
