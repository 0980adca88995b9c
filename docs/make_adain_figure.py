"""The README figure for the arbitrary-style method: a CC0 photo in paintings the decoder never saw."""

import sys
from pathlib import Path

import torch
from skimage import data

from painterly.decoder_model import load_shipped_decoder
from painterly.image.io import as_loaded_image, load_image
from painterly.methods.arbitrary import ArbitraryStylizer
from painterly.sheet import compose_sheet

shared = Path("../shared/data/styles")
names = ["starry_night", "the_scream", "udnie"]
paintings = {name: load_image(shared / f"{name}.jpg", max_pixels=None) for name in names}
paintings["skimage texture"] = as_loaded_image(data.immunohistochemistry()).rgb
photo = as_loaded_image(data.astronaut()).rgb
stylizer = ArbitraryStylizer(load_shipped_decoder(), device="cpu", precision="auto")
picture = compose_sheet(
    photo,
    list(paintings),
    lambda image, name: stylizer.stylize(image, [paintings[name]]),
    tile_long_side=320,
    columns=5,
)
picture.convert("RGB").save(sys.argv[1], quality=88)
