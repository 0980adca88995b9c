"""README figures of the universal and photorealistic methods, made by painterly.

    .venv/bin/python docs/make_universal_figure.py [--workdir out/bench_arbitrary]

wct_figure.jpg: test photos in paintings no decoder saw in training, through AdaIN, WCT and the optimisation
(`GatysConfig(size=512)`; its results are reused from the benchmark's workdir when there, else computed).
photo_figure.jpg: test photos in the light of train photos, through the photorealistic mode (plain and smoothed)
and WCT for contrast. Needs ../shared/data.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from arbitrary import PHOTO_PAIRS, gatys_reference_for, style_image, stylize  # noqa: E402
from common import photo  # noqa: E402
from painterly.sheet import compose_grid  # noqa: E402

PAIRS = ("tubingen:starry_night", "golden_gate:the_scream", "chicago:udnie")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench_arbitrary")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for pair in PAIRS:
        content_name, style_name = pair.split(":")
        content, style = photo(content_name, 512), style_image(style_name)
        gatys = gatys_reference_for(content_name, style_name, style, args.workdir)["image"]
        rows.append(
            [
                ("photo", content),
                (f"{style_name} (held out)", style),
                ("adain", stylize("adain", content, style)),
                ("wct", stylize("wct", content, style)),
                ("transfer (optimisation)", gatys),
            ]
        )
    compose_grid(rows, tile_height=240).save(args.output / "wct_figure.jpg", quality=88)
    rows = []
    for pair in PHOTO_PAIRS:
        content_name, style_name = pair.split(":")
        content, style = photo(content_name, 512), style_image(style_name)
        rows.append(
            [
                ("photo", content),
                (f"style photo {style_name}", style),
                ("photo mode", stylize("photo", content, style)),
                ("photo mode --smooth", stylize("photo", content, style, smooth=True)),
                ("wct", stylize("wct", content, style)),
            ]
        )
    compose_grid(rows, tile_height=240).save(args.output / "photo_figure.jpg", quality=88)


if __name__ == "__main__":
    main()
