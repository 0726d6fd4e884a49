"""Image fixtures for clrp's image decoding and preprocessing tests (Tests/Fixtures/images/).

    pip install pillow numpy
    python3 Graphs/image_fixtures.py

Writes tiny PNG and JPEG files covering every PNG colour type and bit depth (written by the
small PNG encoder below, so each file has exactly the colour type, bit depth, tRNS and
interlacing named), JPEGs written by PIL (RGB, grayscale, CMYK, progressive, EXIF orientations
3, 6 and 8 in both byte orders), broken files, and for each good file `<name>.npy`: the uint8
H x W x 3 pixels PIL gives (`ImageOps.exif_transpose(im).convert("RGB")`).

One deliberate exception: PIL converts 16-bit grayscale to RGB by clipping at 255 (nearly every
pixel white); clrp keeps the high byte as for every other 16-bit PNG, so `png_gray16.npy` is
`value >> 8`.

Resize goldens: `resize_source.png` (40 x 30) resized by PIL's BILINEAR filter (what
torchvision's Resize uses on PIL images) to the sizes in RESIZES (`resize_WxH.npy`), the
centre crop of one of them (torchvision CenterCrop), and the torchvision-style ImageNet input
for a 24 x 24 model (Resize(round(24*256/224)) + CenterCrop(24) + ToTensor + Normalize) as a
float32 [1, 3, 24, 24] array (`imagenet_24.npy`).

Deterministic: fixed seeds, no timestamps in the files. Written with Pillow 13.0 (bundling
libjpeg-turbo 3); Pillow 12 and older resize horizontally first in every case, which moves a
few pixels of the (36, 8) and (64, 12) goldens by one level.
"""

import io
import os
import struct
import warnings
import zlib

import numpy as np
from PIL import Image, ImageOps

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "images")
W, H = 7, 5
RESIZES = [(17, 13), (9, 30), (64, 48), (5, 4), (40, 30), (36, 8), (64, 12)]  # the last two: Pillow 13 resizes vertically first
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# ---------------------------------------------------------------- a minimal PNG encoder

def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_row(samples, bit_depth):
    """One scanline of samples (already flattened over channels) at the bit depth."""
    if bit_depth == 8:
        return bytes(int(v) for v in samples)
    if bit_depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    per_byte = 8 // bit_depth
    out = bytearray()
    for i in range(0, len(samples), per_byte):
        byte = 0
        group = list(samples[i:i + per_byte]) + [0] * (per_byte - len(samples[i:i + per_byte]))
        for v in group:
            byte = (byte << bit_depth) | int(v)
        out.append(byte)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, samples, color_type, bit_depth, palette=None, trns=None, interlace=False):
    """samples: H x W x channels integer array of raw sample values."""
    h, w = samples.shape[:2]
    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for row in sub:
                raw += b"\x00" + pack_row(row.reshape(-1), bit_depth)
    else:
        for y, row in enumerate(samples):
            # filter type 0 (none) on even rows, 1 (sub) on odd rows, to exercise unfiltering
            line = pack_row(row.reshape(-1), bit_depth)
            if y % 2 == 1:
                bpp = max(1, (samples.shape[2] * bit_depth) // 8)
                line = bytes((line[i] - (line[i - bpp] if i >= bpp else 0)) & 0xFF for i in range(len(line)))
                raw += b"\x01" + line
            else:
                raw += b"\x00" + line
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0))
    if palette is not None:
        png += chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        png += chunk(b"tRNS", trns)
    png += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    png += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)
    return png


# ---------------------------------------------------------------- helpers

def pil_rgb(path):
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.uint8)


def save_expected(name, pixels):
    assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    np.save(os.path.join(OUT, name + ".npy"), pixels)


def smooth_rgb(rng, w, h):
    """A picture with gradients and noise (JPEG-friendly, not flat)."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255.0 / max(w - 1, 1), y * 255.0 / max(h - 1, 1), (x + y) * 127.0 / max(w + h - 2, 1)], -1)
    return np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)


def exif_bytes(orientation, big_endian):
    """A minimal APP1 payload: IFD0 with one entry, Orientation (SHORT)."""
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    tiff += struct.pack(e + "H", 1) + struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    tiff += struct.pack(e + "I", 0)
    return b"Exif\x00\x00" + tiff


def main():
    # PIL suggests RGBA for palette+tRNS when converting; we want its RGB conversion
    warnings.filterwarnings("ignore", message="Palette images with Transparency")
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    rng = np.random.default_rng(20180601)
    good = []

    # PNG: every colour type and bit depth
    for depth in (1, 2, 4, 8, 16):
        s = rng.integers(0, 2 ** depth, (H, W, 1))
        name = f"png_gray{depth}"
        write_png(os.path.join(OUT, name + ".png"), s, 0, depth)
        good.append(name)
    s = rng.integers(0, 4, (H, W, 1))
    write_png(os.path.join(OUT, "png_gray2_interlaced.png"), s, 0, 2, interlace=True)
    good.append("png_gray2_interlaced")
    s = rng.integers(0, 256, (H, W, 1))
    write_png(os.path.join(OUT, "png_gray8_trns.png"), s, 0, 8, trns=struct.pack(">H", int(s[0, 0, 0])))
    good.append("png_gray8_trns")
    for depth in (8, 16):
        s = rng.integers(0, 2 ** depth, (H, W, 2))
        write_png(os.path.join(OUT, f"png_graya{depth}.png"), s, 4, depth)
        good.append(f"png_graya{depth}")
        s = rng.integers(0, 2 ** depth, (H, W, 3))
        write_png(os.path.join(OUT, f"png_rgb{depth}.png"), s, 2, depth)
        good.append(f"png_rgb{depth}")
        s = rng.integers(0, 2 ** depth, (H, W, 4))
        write_png(os.path.join(OUT, f"png_rgba{depth}.png"), s, 6, depth)
        good.append(f"png_rgba{depth}")
    s = rng.integers(0, 256, (H, W, 3))
    write_png(os.path.join(OUT, "png_rgb8_interlaced.png"), s, 2, 8, interlace=True)
    good.append("png_rgb8_interlaced")
    s = rng.integers(0, 65536, (H, W, 4))
    write_png(os.path.join(OUT, "png_rgba16_interlaced.png"), s, 6, 16, interlace=True)
    good.append("png_rgba16_interlaced")
    for depth, trns in ((8, None), (4, None), (2, bytes([0, 128, 255])), (1, None)):
        n = 2 ** depth
        palette = rng.integers(0, 256, (n, 3))
        s = rng.integers(0, n, (H, W, 1))
        name = f"png_palette{depth}" + ("_trns" if trns else "")
        write_png(os.path.join(OUT, name + ".png"), s, 3, depth, palette=palette, trns=trns)
        good.append(name)
    s = rng.integers(0, 16, (H, W, 1))
    write_png(os.path.join(OUT, "png_palette4_interlaced.png"), s, 3, 4, palette=rng.integers(0, 256, (16, 3)),
              trns=bytes(range(0, 256, 32)), interlace=True)
    good.append("png_palette4_interlaced")
    Image.fromarray(smooth_rgb(rng, W, H)).save(os.path.join(OUT, "png_pil_rgb.png"))  # PIL's own filters
    good.append("png_pil_rgb")

    # JPEG, written by PIL (libjpeg-turbo)
    photo = Image.fromarray(smooth_rgb(rng, 12, 8))  # non-square: a wrong rotation changes the shape
    photo.save(os.path.join(OUT, "jpeg_rgb.jpg"), quality=90)
    photo.save(os.path.join(OUT, "jpeg_rgb444.jpg"), quality=90, subsampling=0)
    photo.save(os.path.join(OUT, "jpeg_progressive.jpg"), quality=90, progressive=True)
    photo.convert("L").save(os.path.join(OUT, "jpeg_gray.jpg"), quality=90)
    photo.convert("CMYK").save(os.path.join(OUT, "jpeg_cmyk.jpg"), quality=90)
    good += ["jpeg_rgb", "jpeg_rgb444", "jpeg_progressive", "jpeg_gray", "jpeg_cmyk"]
    # the same CMYK file without its Adobe APP14 segment: PIL still reads it as inverted CMYK
    cmyk = open(os.path.join(OUT, "jpeg_cmyk.jpg"), "rb").read()
    app14 = cmyk.index(b"\xff\xee")
    length = struct.unpack(">H", cmyk[app14 + 2:app14 + 4])[0]
    open(os.path.join(OUT, "jpeg_cmyk_noadobe.jpg"), "wb").write(cmyk[:app14] + cmyk[app14 + 2 + length:])
    good.append("jpeg_cmyk_noadobe")
    for orientation, big in ((3, False), (6, False), (8, True), (6, True)):
        name = f"jpeg_exif{orientation}_{'mm' if big else 'ii'}"
        photo.save(os.path.join(OUT, name + ".jpg"), quality=90, exif=exif_bytes(orientation, big))
        good.append(name)

    for name in good:
        path = os.path.join(OUT, name + (".png" if name.startswith("png") else ".jpg"))
        if name == "png_gray16":
            with Image.open(path) as im:
                pixels = (np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8)
            save_expected(name, np.repeat(pixels[:, :, None], 3, axis=2))
        else:
            save_expected(name, pil_rgb(path))
    for name in ("jpeg_exif6_ii", "jpeg_exif8_mm", "jpeg_exif6_mm"):
        assert np.load(os.path.join(OUT, name + ".npy")).shape == (12, 8, 3), name

    # broken files
    rgb = open(os.path.join(OUT, "png_rgb8.png"), "rb").read()
    bad = bytearray(rgb)
    bad[20] ^= 0x01  # inside IHDR's data: the CRC no longer matches
    open(os.path.join(OUT, "bad_crc.png"), "wb").write(bytes(bad))
    open(os.path.join(OUT, "garbage.png"), "wb").write(rgb[:8] + bytes(rng.integers(0, 256, 64, dtype=np.uint8)))
    idat = rgb.index(b"IDAT")
    open(os.path.join(OUT, "truncated.png"), "wb").write(rgb[:idat + 20])
    jpg = open(os.path.join(OUT, "jpeg_rgb.jpg"), "rb").read()
    open(os.path.join(OUT, "truncated.jpg"), "wb").write(jpg[:len(jpg) * 2 // 3])
    open(os.path.join(OUT, "not_an_image.png"), "w").write("this is a text file, not a picture\n")

    # resize goldens
    source = Image.fromarray(smooth_rgb(rng, 40, 30))
    source.save(os.path.join(OUT, "resize_source.png"))
    for w, h in RESIZES:
        np.save(os.path.join(OUT, f"resize_{w}x{h}.npy"), np.asarray(source.resize((w, h), Image.BILINEAR)))
    # torchvision CenterCrop(11) of the 17x13 resize: top = round((13-11)/2), left = round((17-11)/2)
    r = np.asarray(source.resize((17, 13), Image.BILINEAR))
    top, left = int(round((13 - 11) / 2.0)), int(round((17 - 11) / 2.0))
    np.save(os.path.join(OUT, "crop_17x13_to_11.npy"), r[top:top + 11, left:left + 11])
    # imagenet-style input of a 24x24 model: Resize(27) (shorter side; long side int(27*40/30) = 36)
    side = int(round(24 * 256 / 224))
    long = int(side * 40 / 30)
    resized = np.asarray(source.resize((long, side), Image.BILINEAR))
    top, left = int(round((side - 24) / 2.0)), int(round((long - 24) / 2.0))
    crop = resized[top:top + 24, left:left + 24].astype(np.float32) / 255.0
    tensor = ((crop - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)
    np.save(os.path.join(OUT, "imagenet_24.npy"), tensor)

    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1024:.1f} kB, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
