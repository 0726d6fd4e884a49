#!/usr/bin/env python3
"""Shapes: a small multi-object benchmark for clrp's pointing game and ablation study.

Synthetic 64x64 RGB images of geometric objects (11 classes, see CLASSES) with a
random colour, scale, rotation and position each, on cluttered backgrounds
(colour gradients, faint stripes, blurred blobs, thin random strokes), drawn
with PIL at 4x supersampling.  Colour says nothing about the class: object
colours are drawn independently of the class, only away from the background's.

    python3 Graphs/shapes/generate.py          # writes the committed fixtures:
        Tests/Fixtures/shapes/labels.txt          class names, index order
        Tests/Fixtures/shapes/test/NNNN.png       600 test images, 2-3 objects of different classes
        Tests/Fixtures/shapes/annotations.json    one tight box per object
        Tests/Fixtures/shapes/example.png         128x128, two objects (README example)

Everything is seeded: image i of a set depends only on (set seed, i), so a
rerun writes byte-identical files.  The training and single-object test images
come from the same functions (`single_object`, used by train.py) and are not
committed.

Geometry.  The models are used with clrp's `--preprocess imagenet`, which for a
64x64 model input resizes the shorter side to round(64*256/224) = 73 (PIL
BILINEAR) and centre-crops 64 (offset 4).  That crop keeps original
coordinates of about [3.5, 59.6); every object here lies inside
[MARGIN_LO, MARGIN_HI) = [5, 59) so the crop never cuts it.

Boxes are [x0, y0, x1, y1] in pixels of the stored image, x1/y1 exclusive
(the object covers columns x0..x1-1 and rows y0..y1-1): the bounding box of
the pixels where the object's own anti-aliased coverage is >= 0.25.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "Tests" / "Fixtures" / "shapes"

CLASSES = [
    "circle", "square", "triangle", "star", "cross", "ring",
    "crescent", "heart", "arrow", "checkerboard", "striped_disc",
]
SIZE = 64                 # stored image size
SS = 4                    # supersampling factor for the object masks
MARGIN_LO, MARGIN_HI = 5.0, 59.0   # objects stay inside this square (survives the 73->64 crop)
BOX_ALPHA = 0.25          # coverage threshold for the tight boxes

# Seeds of the image sets (image i of a set uses default_rng([seed, i])).
SEED_TRAIN = 1
SEED_TEST_SINGLE = 2
SEED_TEST_MULTI = 3
SEED_EXAMPLE = 9
N_TEST_MULTI = 600

# Object radii (half the nominal extent, in 64-pixel units).
R_SINGLE = (7.0, 16.0)
R_MULTI = (7.0, 11.5)


# --------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------

def _dist(a, b) -> float:
    return float(np.sqrt(np.sum((np.asarray(a, float) - np.asarray(b, float)) ** 2)))


def _colour_far_from(rng, refs, min_dist: float) -> np.ndarray:
    """A random RGB colour at least min_dist (Euclidean, 0..255) from every ref."""
    best, best_d = None, -1.0
    for _ in range(50):
        c = rng.integers(0, 256, size=3).astype(float)
        d = min((_dist(c, r) for r in refs), default=1e9)
        if d >= min_dist:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


# --------------------------------------------------------------------------
# Background clutter
# --------------------------------------------------------------------------

def background(rng, size: int) -> np.ndarray:
    """float32 HxWx3 in 0..255: gradient + faint stripes + blurred blobs + thin strokes."""
    k = size / SIZE
    base = rng.uniform(30, 225, size=3)
    other = np.clip(base + rng.normal(0, 45, size=3), 0, 255)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    ang = rng.uniform(0, 2 * math.pi)
    t = (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)) + 0.5
    t = np.clip(t, 0, 1)[..., None]
    img = base * (1 - t) + other * t
    if rng.random() < 0.6:   # faint stripes
        ang = rng.uniform(0, math.pi)
        period = rng.uniform(4, 12) * k / size
        amp = rng.uniform(6, 22)
        s = np.sin(2 * math.pi * (np.cos(ang) * xx + np.sin(ang) * yy) / period + rng.uniform(0, 6.3))
        img = img + amp * s[..., None] * rng.choice([-1, 1], size=3)
    pil = Image.fromarray(np.clip(img, 0, 255).round().astype(np.uint8))
    # blobs
    draw = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(3, 8))):
        c = np.clip(base + rng.normal(0, 60, size=3), 0, 255)
        cx, cy = rng.uniform(-5, SIZE + 5, size=2) * k
        rx, ry = rng.uniform(4, 16, size=2) * k
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=tuple(int(v) for v in c))
    pil = pil.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(1.5, 3.5)) * k))
    # thin strokes (lines and arcs), any colour
    draw = ImageDraw.Draw(pil)
    for _ in range(int(rng.integers(2, 7))):
        c = tuple(int(v) for v in rng.integers(0, 256, size=3))
        x0, y0 = rng.uniform(0, SIZE, size=2) * k
        L = rng.uniform(6, 22) * k
        a = rng.uniform(0, 2 * math.pi)
        w = max(1, int(round(k)))
        if rng.random() < 0.5:
            draw.line([x0, y0, x0 + L * math.cos(a), y0 + L * math.sin(a)], fill=c, width=w)
        else:
            r = L / 2
            start = float(rng.uniform(0, 360))
            draw.arc([x0 - r, y0 - r, x0 + r, y0 + r], start, start + float(rng.uniform(60, 200)), fill=c, width=w)
    return np.asarray(pil, dtype=np.float32)


# --------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------

def _rot(points, cx, cy, ang):
    ca, sa = math.cos(ang), math.sin(ang)
    return [(cx + ca * x - sa * y, cy + sa * x + ca * y) for x, y in points]


def _regular(n, r, phase=0.0):
    return [(r * math.cos(phase + 2 * math.pi * i / n), r * math.sin(phase + 2 * math.pi * i / n)) for i in range(n)]


def _mask(cls: str, cx: float, cy: float, r: float, ang: float, size: int, rng) -> np.ndarray:
    """Coverage in [0, 1] (float32, size x size) of one object; all geometry within radius r."""
    S = size * SS
    m = Image.new("L", (S, S), 0)
    d = ImageDraw.Draw(m)
    cx, cy, r = cx * SS, cy * SS, r * SS

    def disc(x, y, rr, fill=255):
        d.ellipse([x - rr, y - rr, x + rr, y + rr], fill=fill)

    if cls in ("circle", "striped_disc"):
        disc(cx, cy, r)
    elif cls in ("square", "checkerboard"):
        d.polygon(_rot(_regular(4, r, math.pi / 4), cx, cy, ang), fill=255)
    elif cls == "triangle":
        d.polygon(_rot(_regular(3, r), cx, cy, ang), fill=255)
    elif cls == "star":
        pts = [((r if i % 2 == 0 else 0.42 * r) * math.cos(math.pi * i / 5),
                (r if i % 2 == 0 else 0.42 * r) * math.sin(math.pi * i / 5)) for i in range(10)]
        d.polygon(_rot(pts, cx, cy, ang), fill=255)
    elif cls == "cross":
        w, L = 0.3 * r, 0.95 * r
        pts = [(w, w), (L, w), (L, -w), (w, -w), (w, -L), (-w, -L),
               (-w, -w), (-L, -w), (-L, w), (-w, w), (-w, L), (w, L)]
        d.polygon(_rot(pts, cx, cy, ang), fill=255)
    elif cls == "ring":
        disc(cx, cy, r)
        disc(cx, cy, 0.55 * r, fill=0)
    elif cls == "crescent":
        disc(cx, cy, r)
        off = 0.5 * r
        disc(cx + off * math.cos(ang), cy + off * math.sin(ang), 0.85 * r, fill=0)
    elif cls == "heart":
        pts = []
        for i in range(64):
            t = 2 * math.pi * i / 64
            x = 16 * math.sin(t) ** 3
            y = -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))
            pts.append((x * r / 17.5, (y + 2.5) * r / 17.5))
        d.polygon(_rot(pts, cx, cy, ang), fill=255)
    elif cls == "arrow":
        sw, hw, neck = 0.2 * r, 0.62 * r, 0.1 * r
        pts = [(-r, -sw), (neck, -sw), (neck, -hw), (r, 0), (neck, hw), (neck, sw), (-r, sw)]
        d.polygon(_rot(pts, cx, cy, ang), fill=255)
    else:
        raise ValueError(cls)
    m = m.reduce(SS)   # box filter SS x SS -> anti-aliased coverage
    return np.asarray(m, dtype=np.float32) / 255.0


def _paint(cls, cx, cy, r, ang, size, rng, bg_mean) -> np.ndarray:
    """Colour image (size x size x 3, float32) of the object's surface."""
    c1 = _colour_far_from(rng, [bg_mean], 110)
    if cls not in ("checkerboard", "striped_disc"):
        # mild shading so that surfaces are not perfectly flat
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        a = rng.uniform(0, 2 * math.pi)
        g = ((xx - cx) * math.cos(a) + (yy - cy) * math.sin(a)) / max(r, 1.0)
        return np.clip(c1 + 18.0 * g[..., None], 0, 255).astype(np.float32)
    c2 = _colour_far_from(rng, [bg_mean, c1], 100)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    ca, sa = math.cos(ang), math.sin(ang)
    u = ca * (xx - cx) + sa * (yy - cy)
    v = -sa * (xx - cx) + ca * (yy - cy)
    if cls == "checkerboard":
        cell = (2 * r / math.sqrt(2)) / 4.0          # 4 x 4 cells across the square
        pat = (np.floor(u / cell + 2) + np.floor(v / cell + 2)) % 2
    else:
        period = r / 2.2
        pat = (np.floor(u / (period / 2)) % 2)
    return np.where(pat[..., None] > 0.5, c1, c2).astype(np.float32)


def _box(alpha: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(alpha >= BOX_ALPHA)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def render(rng, classes: list[int], radii: list[float], size: int = SIZE, max_tries: int = 200):
    """Draw the given classes (in order, later ones on top) at random, mostly
    non-overlapping positions.  Returns (uint8 HxWx3, objects) or None if the
    objects could not be placed.  Coordinates are in `size`-pixel units."""
    k = size / SIZE
    centres = []
    for r in radii:
        for _ in range(max_tries):
            c = rng.uniform(MARGIN_LO + r, MARGIN_HI - r, size=2)
            if all(math.hypot(*(c - c2)) >= 0.95 * (r + r2) + 1.0 for c2, r2 in centres):
                centres.append((c, r))
                break
        else:
            return None
    img = background(rng, size)
    bg_mean = img.reshape(-1, 3).mean(axis=0)
    objects, alphas = [], []
    for ci, (c, r) in zip(classes, centres):
        ang = float(rng.uniform(0, 2 * math.pi))
        cls = CLASSES[ci]
        cx, cy, rr = c[0] * k, c[1] * k, r * k
        a = _mask(cls, cx, cy, rr, ang, size, rng)
        local = img[a > 0].mean(axis=0) if (a > 0).any() else bg_mean
        paint = _paint(cls, cx, cy, rr, ang, size, rng, local)
        img = img * (1 - a[..., None]) + paint * a[..., None]
        alphas.append(a)
        objects.append({"class": int(ci), "name": cls, "box": _box(a)})
    # every object must stay mostly visible
    for i, a in enumerate(alphas):
        vis = a.copy()
        for b in alphas[i + 1:]:
            vis *= 1 - b
        if vis.sum() < 0.85 * a.sum():
            return None
    return np.clip(img, 0, 255).round().astype(np.uint8), objects


def single_object(seed: int, index: int, size: int = SIZE):
    """Image `index` of a one-object set: (uint8 HxWx3, class index)."""
    rng = np.random.default_rng([seed, index])
    cls = int(rng.integers(len(CLASSES)))
    while True:
        r = float(rng.uniform(*R_SINGLE))
        out = render(rng, [cls], [r], size)
        if out is not None:
            return out[0], cls


def multi_object(seed: int, index: int, size: int = SIZE, n: int | None = None):
    """Image `index` of a multi-object set: 2 or 3 objects of different classes."""
    rng = np.random.default_rng([seed, index])
    if n is None:
        n = int(rng.integers(2, 4))
    while True:
        classes = [int(c) for c in rng.choice(len(CLASSES), size=n, replace=False)]
        radii = sorted((float(rng.uniform(*R_MULTI)) for _ in range(n)), reverse=True)
        out = render(rng, classes, radii, size)
        if out is not None:
            return out


def example_image(seed: int = SEED_EXAMPLE):
    """128x128 README example: two large objects of different classes.  SEED_EXAMPLE was
    picked (by trying seeds in order) so that all three models rank exactly these two
    classes first (train.py checks it)."""
    rng = np.random.default_rng([seed, 0])
    classes = [int(c) for c in rng.choice(len(CLASSES), size=2, replace=False)]
    while True:
        out = render(rng, classes, [12.0, 11.0], size=128)
        if out is not None:
            return out


# --------------------------------------------------------------------------
# clrp's `--preprocess imagenet` geometry (what the models see)
# --------------------------------------------------------------------------

def imagenet_geometry(img: np.ndarray | Image.Image, side: int = SIZE) -> np.ndarray:
    """Shorter side -> round(side*256/224) with PIL BILINEAR, centre crop side x side
    (torchvision Resize + CenterCrop, as clrp does).  uint8 side x side x 3."""
    pil = img if isinstance(img, Image.Image) else Image.fromarray(img)
    w, h = pil.size
    s = round(side * 256 / 224)
    if w <= h:
        nw, nh = s, int(s * h / w)
    else:
        nw, nh = int(s * w / h), s
    pil = pil.resize((nw, nh), Image.BILINEAR)
    top = int(round((nh - side) / 2.0))
    left = int(round((nw - side) / 2.0))
    return np.asarray(pil, dtype=np.uint8)[top:top + side, left:left + side]


# --------------------------------------------------------------------------

def write_fixtures(out_dir: Path) -> list[Path]:
    (out_dir / "test").mkdir(parents=True, exist_ok=True)
    written = []
    labels = out_dir / "labels.txt"
    labels.write_text("".join(c + "\n" for c in CLASSES))
    written.append(labels)
    images = []
    for i in range(N_TEST_MULTI):
        arr, objects = multi_object(SEED_TEST_MULTI, i)
        rel = f"test/{i:04d}.png"
        Image.fromarray(arr).save(out_dir / rel, optimize=True)
        written.append(out_dir / rel)
        images.append({"file": rel, "width": SIZE, "height": SIZE, "objects": objects})
    ann = out_dir / "annotations.json"
    ann.write_text(json.dumps({"classes": CLASSES, "images": images}, indent=1) + "\n")
    written.append(ann)
    arr, objects = example_image()
    ex = out_dir / "example.png"
    Image.fromarray(arr).save(ex, optimize=True)
    written.append(ex)
    (out_dir / "example.json").write_text(json.dumps(
        {"file": "example.png", "width": 128, "height": 128, "objects": objects}, indent=1) + "\n")
    written.append(out_dir / "example.json")
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output directory (default: %(default)s)")
    ap.add_argument("--preview", type=Path, default=None,
                    help="also write a contact sheet of training-style images to this PNG")
    args = ap.parse_args()
    files = write_fixtures(args.out)
    total = sum(p.stat().st_size for p in files)
    digest = hashlib.sha256()
    for p in sorted(files):
        digest.update(p.read_bytes())
    print(f"{len(files)} files, {total / 1e6:.2f} MB in {args.out}; sha256 of all: {digest.hexdigest()}")
    if args.preview:
        tiles = [single_object(SEED_TRAIN, i)[0] for i in range(48)]
        tiles += [multi_object(SEED_TEST_MULTI, i)[0] for i in range(16)]
        sheet = np.concatenate([np.concatenate(tiles[r * 8:(r + 1) * 8], axis=1) for r in range(8)], axis=0)
        Image.fromarray(sheet).resize((sheet.shape[1] * 2, sheet.shape[0] * 2), Image.NEAREST).save(args.preview)
    return 0


if __name__ == "__main__":
    sys.exit(main())
