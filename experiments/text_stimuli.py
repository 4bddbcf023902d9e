"""Stimuli for text_units.py: crops of photographs, each three times: as it is, with
printed words, and with random pen strokes of the same ink, colour, stroke width and
place (the control: everything text has but letters).

Words come from a fixed list, in matplotlib's DejaVu TrueType fonts and Pillow's default
font, at random sizes and positions, in a colour that contrasts with what lies under
them (black or white on a gray photograph, so that colour alone cannot give the text
away). Everything is drawn from one seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch.nn import functional as F

WORDS = ["STOP", "OPEN", "hello", "neuron", "coffee", "EXIT", "sale", "2024", "Python",
         "welcome", "NO PARKING", "menu", "station", "library", "quantum", "HOTEL",
         "route 66", "the end", "zebra", "apple", "garden", "PRESS", "music", "Tuesday"]
COLORS = {"black": (0, 0, 0), "white": (255, 255, 255), "red": (220, 30, 30),
          "yellow": (250, 220, 40), "blue": (30, 60, 200), "green": (30, 160, 60)}
TTF = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSerif", "DejaVuSerif-Italic", "DejaVuSansMono")
KINDS = ("none", "text", "strokes")  # the order of each crop's three images

Font = Callable[[int], ImageFont.FreeTypeFont | ImageFont.ImageFont]


def fonts() -> dict[str, Font]:
    """The fonts found offline: matplotlib's DejaVu TrueType files and, with Pillow >=
    10.1 built with FreeType, Pillow's own default font at any size."""
    import matplotlib

    found: dict[str, Font] = {}
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name in TTF:
        if (folder / f"{name}.ttf").exists():
            found[name] = partial(ImageFont.truetype, str(folder / f"{name}.ttf"))
    try:
        ImageFont.load_default(size=12)
        found["pillow-default"] = lambda size: ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # older Pillow, or no FreeType
        pass
    if len(found) < 2:
        raise RuntimeError(f"found only {sorted(found)} of the fonts {TTF} (in {folder}) and "
                           "Pillow's default; install matplotlib and Pillow >= 10.1")
    return found


def _luminance(rgb: Any) -> float:
    r, g, b = (float(v) / 255 for v in rgb)
    return 0.299 * r + 0.587 * g + 0.114 * b


def text_mask(wh: tuple[int, int], rng: random.Random, font_set: dict[str, Font]
              ) -> tuple[Image.Image, dict[str, Any]]:
    """One or two lines of words, in a random font, size and place, as an 8-bit mask of
    size `wh`, and what was drawn (with its box and stroke width)."""
    name = rng.choice(sorted(font_set))
    lines = [" ".join(rng.sample(WORDS, rng.choice([1, 1, 2]))) for _ in range(rng.choice([1, 2]))]
    text, size = "\n".join(lines), rng.randint(max(8, min(wh) // 14), max(9, min(wh) // 5))
    mask = Image.new("L", wh, 0)
    draw = ImageDraw.Draw(mask)
    while True:
        font = font_set[name](size)
        left, top, right, bottom = draw.multiline_textbbox((0, 0), text, font=font)
        if (right - left <= wh[0] - 8 and bottom - top <= wh[1] - 8) or size <= 8:
            break
        size -= 2
    x = rng.randint(4, max(4, wh[0] - (right - left) - 4))
    y = rng.randint(4, max(4, wh[1] - (bottom - top) - 4))
    draw.multiline_text((x - left, y - top), text, font=font, fill=255)
    box = (x, y, x + right - left, y + bottom - top)
    width = max(1, round(size * (0.14 if "Bold" in name else 0.09)))  # DejaVu's stems
    return mask, {"text": text, "font": name, "size": size, "box": box, "stroke": width}


def stroke_mask(wh: tuple[int, int], box: tuple[int, int, int, int], width: int, ink: int,
                size: int, rng: random.Random, scale: int = 4) -> Image.Image:
    """Random short lines and arcs, letter-sized (`size` px), of stroke `width`, inside
    `box`, until they cover at least `ink` pixels: an 8-bit mask of size `wh` (drawn
    `scale` times larger and shrunk, so that its edges are antialiased like text)."""
    big = Image.new("L", (wh[0] * scale, wh[1] * scale), 0)
    draw = ImageDraw.Draw(big)
    x0, y0, x1, y1 = (v * scale for v in box)
    mask = big.resize(wh, Image.Resampling.BOX)
    for _ in range(400):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        reach = rng.uniform(0.25, 0.6) * size * scale
        if rng.random() < 0.5:
            angle = rng.uniform(0, math.pi)
            dx, dy = reach * math.cos(angle), reach * math.sin(angle)
            draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=255, width=width * scale)
        else:
            start = rng.uniform(0, 360)
            draw.arc([cx - reach, cy - reach * rng.uniform(0.5, 1.0), cx + reach, cy + reach],
                     start, start + rng.uniform(90, 300), fill=255, width=width * scale)
        if sum(big.histogram()[128:]) < 0.95 * ink * scale * scale:
            continue  # a cheap estimate first: shrinking takes milliseconds
        mask = big.resize(wh, Image.Resampling.BOX)
        if sum(mask.histogram()[128:]) >= ink:
            break
    return mask


def _contrasting(img: Image.Image, box: tuple[int, int, int, int], rng: random.Random) -> str:
    arr = np.asarray(img, dtype=np.int16)
    under = arr[box[1]:box[3], box[0]:box[2]].reshape(-1, 3)
    background = _luminance(under.mean(0)) if len(under) else 0.5
    gray = int((arr.max(2) - arr.min(2)).max()) <= 1
    ok = [c for c, rgb in COLORS.items() if abs(_luminance(rgb) - background) >= 0.4
          and (not gray or c in ("black", "white"))]
    return rng.choice(ok) if ok else ("black" if background > 0.5 else "white")


def _tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255


def _paint(img: Image.Image, mask: Image.Image, color: str) -> torch.Tensor:
    out = img.copy()
    out.paste(Image.new("RGB", img.size, COLORS[color]), mask=mask)
    return _tensor(out)


def crop_triplets(photos: dict[str, torch.Tensor], per_photo: int, size: int, seed: int
                  ) -> tuple[torch.Tensor, list[str], list[dict[str, Any]]]:
    """`per_photo` random crops (70-100% of the side, flipped half the time) of each
    photograph, resized to `size`, each as KINDS: images [3 * P, 3, size, size], the
    photograph of each crop [P] and what was drawn on it [P]."""
    rng, font_set = random.Random(seed), fonts()
    images, names, drawn = [], [], []
    for name, full in photos.items():
        big = full.shape[-1]
        for _ in range(per_photo):
            side = rng.randint(int(0.7 * big), big)
            top, left = rng.randint(0, big - side), rng.randint(0, big - side)
            crop = F.interpolate(full[None, :, top:top + side, left:left + side],
                                 size=(size, size), mode="bilinear", antialias=True,
                                 align_corners=False)[0].clamp(0, 1)
            if rng.random() < 0.5:
                crop = crop.flip(-1)
            img = Image.fromarray((crop.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
            words, info = text_mask(img.size, rng, font_set)
            info["ink"] = sum(words.histogram()[128:])
            marks = stroke_mask(img.size, info["box"], info["stroke"], info["ink"],
                                info["size"], rng)
            info["stroke_ink"] = sum(marks.histogram()[128:])
            info["color"] = _contrasting(img, info["box"], rng)
            images += [_tensor(img), _paint(img, words, info["color"]),
                       _paint(img, marks, info["color"])]
            names.append(name)
            drawn.append(info)
    return torch.stack(images), names, drawn
