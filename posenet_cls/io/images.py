"""Photos in: image bytes or files -> RGB uint8 (H, W, 3), decoded by content, upright per EXIF."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from posenet_cls.errors import PosenetError

MAX_SIDE = 2048  # BlazePose looks at 224/256 px crops; larger photos only cost decode time
MAX_PIXELS = 600_000_000  # refuse decompression bombs, but accept real panoramas and scans


def decode_image(data: bytes, name: str = "<bytes>", max_side: int = MAX_SIDE) -> np.ndarray:
    """Decode image bytes by content (JPEG, PNG, WebP, AVIF, ...) into RGB uint8 (H, W, 3), upright per EXIF."""
    if data[:3] == b"\xff\xd8\xff":  # JPEG, most photos: OpenCV decodes it faster and applies EXIF orientation
        rgb = _decode_jpeg_cv2(data, max_side)
        if rgb is not None:
            return rgb
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        img = Image.open(io.BytesIO(data))
        img.draft("RGB", (max_side, max_side))  # JPEG only: decode at a reduced scale, cheaply
        img = ImageOps.exif_transpose(img)
        img.load()
    except Image.DecompressionBombError:
        raise PosenetError(f"{name}: image too large (over {MAX_PIXELS // 1_000_000} megapixels)") from None
    except Exception as e:  # Pillow raises many types for damaged files
        reason = "not an image file" if isinstance(e, Image.UnidentifiedImageError) else f"unreadable image ({e})"
        raise PosenetError(f"{name}: {reason}") from None
    if img.width == 0 or img.height == 0:
        raise PosenetError(f"{name}: empty image")
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return _to_rgb(img)


def _decode_jpeg_cv2(data: bytes, max_side: int) -> np.ndarray | None:
    """OpenCV's JPEG decoder (upright per EXIF), downscaled to ``max_side``; None to fall back to Pillow."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        return None
    h, w = bgr.shape[:2]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _to_rgb(img) -> np.ndarray:
    """Pillow image of any mode (16-bit, float, palette, alpha) -> RGB uint8, transparency on white."""
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB")))


def load_image(path: str | Path) -> np.ndarray:
    """Read a photo file into RGB uint8 (H, W, 3); errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PosenetError(f"{path}: cannot read file ({e.strerror or e})") from None
    return decode_image(data, str(path))
