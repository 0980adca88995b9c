"""The README's video figure: consecutive frames of bunny.mp4 in a preset, per frame against stabilised.

    .venv/bin/python docs/make_video_strip.py docs/images/video_strip.jpg [--preset starry_night] [--start 3.0]

Rows: the input frames; the preset on each frame alone (``--temporal 0``); the same, stabilised (the default
``--temporal``); then, for each of the two, how much every pixel changed from the previous output frame warped by
the input's optical flow (the quantity E_warp averages, x8; black = no change), so flicker shows in a still picture.
Needs ../shared/data/video/bunny.mp4; everything is made by painterly's own library calls.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
BUNNY = ROOT.parent / "shared" / "data" / "video" / "bunny.mp4"
FRAMES_SHOWN = 4
WARM_UP = 12


def stylised_frames(preset: str, temporal: float, start: float, count: int) -> list[torch.Tensor]:
    from painterly.methods.registry import get_method
    from painterly.video.flow import FlowEstimator
    from painterly.video.io import open_video
    from painterly.video.temporal import FrameLinker, blend

    method = get_method("preset")
    stylizer = method.prepare([preset], method.options(None))
    linker = FrameLinker(FlowEstimator("fast"))
    outputs, previous = [], None
    with open_video(BUNNY, start=start, duration=count / 24.0) as reader:
        for frame in reader:
            styled = stylizer(frame.image)
            link = linker.link(frame.image)
            if link is not None and previous is not None and temporal > 0:
                styled = blend(styled, previous, link, temporal)
            previous = (styled.clamp(0, 1) * 255).round() / 255
            outputs.append(previous)
    return outputs


def change_maps(inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """|output_t − warp(output_{t−1})| per pixel (summed over RGB), the warp by the input flow t → t−1, masked."""
    from painterly.video.flow import FlowEstimator, consistency_mask, to_grey, warp_by_flow

    estimator = FlowEstimator("medium")
    maps = [torch.zeros_like(outputs[0])]
    for index in range(1, len(outputs)):
        backward, forward = estimator.both(to_grey(inputs[index]), to_grey(inputs[index - 1]))
        mask = torch.from_numpy(consistency_mask(backward, forward))[None, None]
        change = (outputs[index] - warp_by_flow(outputs[index - 1], backward)).abs().sum(dim=1, keepdim=True)
        maps.append((8 * change * mask).clamp(0, 1).expand(-1, 3, -1, -1))
    return maps


def picture(image: torch.Tensor) -> Image.Image:
    return Image.fromarray((image[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("--preset", default="starry_night")
    parser.add_argument("--start", type=float, default=3.0)
    parser.add_argument("--tile", type=int, default=320, help="width of each frame in the figure")
    args = parser.parse_args()
    if not BUNNY.is_file():
        sys.exit(f"needs {BUNNY}")
    from painterly.video.io import open_video
    from painterly.video.temporal import DEFAULT_TEMPORAL

    count = WARM_UP + FRAMES_SHOWN
    with open_video(BUNNY, start=args.start, duration=count / 24.0) as reader:
        inputs = [frame.image for frame in reader]
    per_frame = stylised_frames(args.preset, 0.0, args.start, count)
    stable = stylised_frames(args.preset, DEFAULT_TEMPORAL, args.start, count)
    rows = {
        "input frames": inputs,
        "per frame (--temporal 0)": per_frame,
        f"stabilised (--temporal {DEFAULT_TEMPORAL})": stable,
        "change, per frame": change_maps(inputs, per_frame),
        "change, stabilised": change_maps(inputs, stable),
    }
    shown = slice(len(inputs) - FRAMES_SHOWN, len(inputs))
    height = round(args.tile * inputs[0].shape[-2] / inputs[0].shape[-1])
    label_width = 190
    sheet = Image.new("RGB", (label_width + FRAMES_SHOWN * args.tile, len(rows) * height), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (label, frames) in enumerate(rows.items()):
        draw.text((8, row * height + height // 2 - 6), label, fill="black")
        for column, frame in enumerate(frames[shown]):
            sheet.paste(
                picture(frame).resize((args.tile, height), Image.Resampling.LANCZOS),
                (label_width + column * args.tile, row * height),
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, quality=88)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
