"""Export a trained network to ONNX or TorchScript: the route to mobile, web and other runtimes.

The exported graph takes ``image`` (1, 3, H, W) in [0, 1] (any H, W of at least twice the network's stride) and
``weights`` (1, styles) (one-hot for a preset, or blend weights summing to 1), and returns the stylised image
(1, 3, H, W), not clamped. Padding to the stride happens inside the graph.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError, OutputError
from .methods.feedforward import StyleNetwork, style_weights

ExportFormat = Literal["onnx", "torchscript"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("onnx", "torchscript")
ONNX_OPSET = 18


class PortableNetwork(nn.Module):
    """The network with plain-op instance norm and shape-generic padding, as exporters need."""

    def __init__(self, network: StyleNetwork) -> None:
        super().__init__()
        self.network = network
        self.stride = network.spec.stride

    def forward(self, image: Tensor, weights: Tensor) -> Tensor:
        height, width = image.shape[-2], image.shape[-1]
        pad_bottom = (self.stride - height % self.stride) % self.stride
        pad_right = (self.stride - width % self.stride) % self.stride
        padded = F.pad(image, (0, pad_right, 0, pad_bottom), mode="reflect")
        output = self.network.body(padded, weights)
        return output[:, :, :height, :width]


@contextlib.contextmanager
def _portable_norms(network: StyleNetwork) -> Iterator[None]:
    norms = network.norms()
    for norm in norms:
        norm.portable = True
    try:
        yield
    finally:
        for norm in norms:
            norm.portable = False


def export_network(
    network: StyleNetwork, path: Path, *, format: ExportFormat, style_names: list[str] | None = None
) -> Path:
    """Write ``network`` (fp32) as ONNX (opset 18, dynamic height and width) or TorchScript.

    The style names (the order of the ``weights`` input) are stored in the file: ONNX metadata ``styles``,
    TorchScript extra file ``styles.json``.
    """
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format '{format}': choose {' or '.join(EXPORT_FORMATS)}")
    network = network.float().eval().requires_grad_(False)
    stride = network.spec.stride
    example = torch.rand(1, 3, 6 * stride + 3, 8 * stride + 5)  # not multiples of the stride: padding stays in
    weights = style_weights(network.spec.styles, {0: 1.0})
    wrapper = PortableNetwork(network).eval()
    if format == "onnx":
        _require_onnx()
    temporary = path.with_name(path.stem + ".partial" + path.suffix)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _portable_norms(network), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names = json.dumps(style_names or [f"style{index}" for index in range(network.spec.styles)])
            if format == "onnx":
                _export_onnx(wrapper, example, weights, temporary, names)
            else:
                _export_torchscript(wrapper, example, weights, temporary, names)
        os.replace(temporary, path)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from error
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as error:
        raise ConfigError(
            "ONNX export needs the packages onnx and onnxscript: pip install 'painterly[export]'"
        ) from error


def _export_onnx(wrapper: PortableNetwork, example: Tensor, weights: Tensor, path: Path, names: str) -> None:
    height = torch.export.Dim("height", min=2 * wrapper.stride, max=16384)
    width = torch.export.Dim("width", min=2 * wrapper.stride, max=16384)
    import io
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(
            wrapper,
            (example, weights),
            str(path),
            dynamo=True,
            opset_version=ONNX_OPSET,
            input_names=["image", "weights"],
            output_names=["stylised"],
            dynamic_shapes={"image": {2: height, 3: width}, "weights": None},
        )
    import onnx

    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = "styles", names
    onnx.save(model, str(path))


def _export_torchscript(wrapper: PortableNetwork, example: Tensor, weights: Tensor, path: Path, names: str) -> None:
    traced = torch.jit.trace(wrapper, (example, weights), check_trace=False)  # type: ignore[no-untyped-call]
    traced.save(str(path), _extra_files={"styles.json": names})
