"""The work of one batch worker: the method's networks loaded once, images in, stylised files out.

:class:`BatchWorker` is a plain callable class so that Ray Data can run it as a pool of stateful actors
(``map_batches(BatchWorker, fn_constructor_kwargs=...)``): ``__call__`` takes a batch of rows as a dict of columns
and returns one result row per image. The in-process path calls :meth:`BatchWorker.process` directly.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..atomic import reason_of
from ..errors import ConfigError, PainterlyError
from ..image.io import DEFAULT_MAX_PIXELS, resize_to
from ..record import file_sha256
from .plan import file_stamp, settings_fingerprint

ONE_PASS_METHODS = ("preset", "adain", "wct", "photo")
PREPARED_KEPT = 4
"""Prepared styles a worker keeps (each holds its own networks)."""
ALPHA_SUFFIXES = (".png", ".webp", ".tif", ".tiff")
DEEP_SUFFIXES = (".png", ".tif", ".tiff")


@dataclass(frozen=True)
class BatchSettings:
    """How every image is stylised; plain values, so that it travels to Ray workers."""

    method: str = "adain"
    styles: tuple[str, ...] = ()
    """Style image paths (adain, wct, photo) or preset names (preset)."""
    style_blend: tuple[float, ...] | None = None
    random_style: bool = False
    """One of ``styles`` per image, chosen from the seed and the image's path (Stylized-ImageNet's recipe)."""
    options: dict[str, Any] = field(default_factory=dict)
    """The method's options (e.g. ``alpha``, ``size``)."""
    seed: int = 0
    threads: int = 1
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.method not in ONE_PASS_METHODS:
            raise ConfigError(
                f"batch jobs run one-pass methods ({', '.join(ONE_PASS_METHODS)}), got {self.method!r}: "
                "the optimisation (gatys) takes minutes per image"
            )
        if not self.styles:
            raise ConfigError("give at least one style (a preset name, or style images)")
        if self.style_blend is not None and (self.random_style or len(self.style_blend) != len(self.styles)):
            raise ConfigError("--style-blend needs one weight per style and no --random-style")
        if self.threads < 1:
            raise ConfigError(f"threads must be at least 1, got {self.threads}")

    def fingerprint(self) -> str:
        """Changes whenever an output would change: the settings and the style files' contents."""
        contents = [_file_digest(style) for style in self.styles] if self.method != "preset" else []
        return settings_fingerprint({**asdict(self), "threads": None, "style_files": contents})

    def style_for(self, relative: str) -> int | None:
        """The style index of one image with ``random_style`` (None: all styles, blended)."""
        if not self.random_style:
            return None
        digest = hashlib.sha256(f"{self.seed}:{relative}".encode()).digest()
        return int.from_bytes(digest[:8], "little") % len(self.styles)


def _file_digest(path: str) -> str:
    try:
        return file_sha256(Path(path))
    except OSError as error:
        raise ConfigError(f"cannot read the style {path}: {reason_of(error)}") from error


class BatchWorker:
    """Loads the method once (per style, for random styles, on first use) and stylises images file to file."""

    def __init__(self, settings: BatchSettings) -> None:
        from ..methods.registry import get_method

        torch.set_num_threads(settings.threads)
        self.settings = settings
        self.method = get_method(settings.method)
        self.options = self.method.options(None, **settings.options)
        self._prepared: OrderedDict[int | None, Any] = OrderedDict()
        self._style_images: list[torch.Tensor] | None = None

    def _styles(self) -> list[Any]:
        if self.method.style_kind == "presets":
            return list(self.settings.styles)
        if self._style_images is None:
            from ..image.io import load_image

            self._style_images = [load_image(path, max_pixels=None) for path in self.settings.styles]
        return list(self._style_images)

    def stylizer(self, index: int | None) -> Any:
        """The prepared method for style ``index`` (None: all styles, blended); the last few are kept."""
        if index in self._prepared:
            self._prepared.move_to_end(index)
            return self._prepared[index]
        styles = self._styles()
        weights = list(self.settings.style_blend) if self.settings.style_blend else None
        chosen = styles if index is None else [styles[index]]
        prepared = self.method.prepare(chosen, self.options, weights=weights if index is None else None)
        self._prepared[index] = prepared
        while len(self._prepared) > PREPARED_KEPT:  # memory stays bounded with hundreds of random styles
            self._prepared.popitem(last=False)
        return prepared

    def process(self, source: str, output: str, relative: str) -> dict[str, Any]:
        """One image: a result row with ``status`` ``done`` (and the output's sha256) or ``failed`` (and why)."""
        from ..image.io import read_image, save_image

        row: dict[str, Any] = {"input": relative, "output": output, "status": "failed", "error": "", "sha256": ""}
        try:
            loaded = read_image(source, max_pixels=self.settings.max_pixels)
            index = self.settings.style_for(relative)
            image = self.stylizer(index)(loaded.rgb)
            suffix = Path(output).suffix.lower()
            alpha = loaded.alpha if suffix in ALPHA_SUFFIXES else None
            if alpha is not None and tuple(alpha.shape[-2:]) != tuple(image.shape[-2:]):
                alpha = resize_to(alpha.reshape(1, 1, *alpha.shape[-2:]).float(), tuple(image.shape[-2:]))
            depth = loaded.bit_depth if suffix in DEEP_SUFFIXES and loaded.bit_depth == 16 else 8
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            save_image(image, output, alpha=alpha, bit_depth=depth)
            row.update(
                status="done",
                sha256=file_sha256(Path(output)),
                output_stamp=file_stamp(Path(output)),
                input_stamp=file_stamp(Path(source)),
            )
            if index is not None:
                name = self.settings.styles[index]
                row["style"] = Path(name).stem if self.method.style_kind == "images" else name
        except PainterlyError as error:
            row["error"] = str(error)
        except Exception as error:  # whatever one image does, it must not stop the job: listed, skipped
            row["error"] = f"{type(error).__name__}: {reason_of(error)}"
        return row

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        """Ray Data's batch format: columns ``source``, ``output``, ``relative`` in; result columns out."""
        rows = [
            self.process(str(source), str(output), str(relative))
            for source, output, relative in zip(batch["source"], batch["output"], batch["relative"], strict=True)
        ]
        keys = ("input", "output", "status", "error", "sha256", "style")
        columns: dict[str, list[Any]] = {key: [row.get(key, "") for row in rows] for key in keys}
        for key in ("input_stamp", "output_stamp"):
            columns[key] = [json.dumps(row.get(key)) for row in rows]  # one type per column for Arrow
        return columns
