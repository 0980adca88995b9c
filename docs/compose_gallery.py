"""Put result images side by side in a grid with labels: ``compose_gallery.py A.png B.png ... -o grid.jpg``."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw


def compose(paths: list[Path], labels: list[str], columns: int, cell_width: int) -> Image.Image:
    cells = []
    for path in paths:
        picture = Image.open(path).convert("RGB")
        cells.append(picture.resize((cell_width, round(picture.height * cell_width / picture.width)), Image.LANCZOS))
    rows = [cells[i : i + columns] for i in range(0, len(cells), columns)]
    row_heights = [max(cell.height for cell in row) for row in rows]
    sheet = Image.new("RGB", (cell_width * columns, sum(row_heights)), "white")
    draw = ImageDraw.Draw(sheet)
    top = 0
    for row_index, row in enumerate(rows):
        for column, cell in enumerate(row):
            sheet.paste(cell, (column * cell_width, top))
            label = labels[row_index * columns + column] if row_index * columns + column < len(labels) else ""
            if label:
                x, y = column * cell_width + 8, top + 8
                box = draw.textbbox((x, y), label)
                draw.rectangle((box[0] - 4, box[1] - 3, box[2] + 4, box[3] + 3), fill="black")
                draw.text((x, y), label, fill="white")
        top += row_heights[row_index]
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--labels", nargs="*", default=[])
    parser.add_argument("--columns", type=int, default=2)
    parser.add_argument("--cell-width", type=int, default=512)
    args = parser.parse_args()
    compose(args.images, args.labels, args.columns, args.cell_width).save(args.output, quality=88)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
