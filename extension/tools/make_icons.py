"""Draw the extension icons (a red wax seal with an "S") and write icons/icon-<size>.png.

Run once after changing the design: python extension/tools/make_icons.py (needs Pillow).
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SIZES = (16, 32, 48, 128)
OUT = Path(__file__).resolve().parent.parent / "icons"
RED = (139, 29, 44, 255)
DARK = (98, 16, 28, 255)
LIGHT = (250, 240, 230, 255)


def seal(size: int = 512) -> Image.Image:
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    c = size / 2
    # Wavy rim: a polygon whose radius oscillates, like wax pressed around a stamp.
    points = []
    for i in range(360):
        a = math.radians(i)
        r = size * (0.46 + 0.025 * math.sin(12 * a))
        points.append((c + r * math.cos(a), c + r * math.sin(a)))
    d.polygon(points, fill=RED)
    inner = size * 0.34
    d.ellipse((c - inner, c - inner, c + inner, c + inner), outline=DARK, width=max(2, size // 40))
    try:
        font = ImageFont.truetype("DejaVuSerif-Bold.ttf", int(size * 0.42))
    except OSError:
        font = ImageFont.load_default(size=int(size * 0.42))
    d.text((c, c + size * 0.01), "S", fill=LIGHT, font=font, anchor="mm")
    return img


def main() -> None:
    OUT.mkdir(exist_ok=True)
    big = seal()
    for s in SIZES:
        big.resize((s, s), Image.Resampling.LANCZOS).save(OUT / f"icon-{s}.png", optimize=True)


if __name__ == "__main__":
    main()
