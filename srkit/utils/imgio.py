"""Image decoding and encoding.

Inside srkit an image is ``(H,W,3) RGB float32 in [0,1]`` (numpy) or
``(B,3,H,W) RGB float in [0,1]`` (torch).  Gray inputs are replicated to three
channels, 16-bit inputs are scaled by 1/65535, and an alpha channel is split
off (returned separately where the caller asks for it).
"""
from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ..errors import DataError
from .fileio import atomic_write_bytes, read_file

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')


@dataclass
class Decoded:
    rgb: np.ndarray  # (H,W,3) float32 RGB in [0,1]
    alpha: Optional[np.ndarray]  # (H,W) float32 in [0,1] or None
    bit_depth: int  # 8 or 16
    channels: int  # channels in the file: 1, 3 or 4


_QUIET = []


def quiet_cv2() -> None:
    """Silence OpenCV's own stderr warnings (libpng errors...): srkit reports decode failures itself."""
    if not _QUIET:
        try:
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        except AttributeError:
            pass
        _QUIET.append(True)


def looks_truncated(data: bytes) -> bool:
    # cv2 decodes a truncated JPEG into a grey-filled image with only a warning;
    # a JPEG must end with the EOI marker (some writers pad with zeros after it).
    if data[:2] == b'\xff\xd8':
        return b'\xff\xd9' not in data[-64:]
    return False


MAX_PIXELS_ENV = 'SRKIT_MAX_PIXELS'
DEFAULT_MAX_PIXELS = 16384 * 16384  # 268 Mpx: 3 GiB as float RGB, the copy every reader makes


def max_pixels() -> int:
    """The largest image (width x height) any srkit reader decodes: ``SRKIT_MAX_PIXELS`` or 268 Mpx."""
    text = os.environ.get(MAX_PIXELS_ENV, '')
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        n = int(float(text))
    except ValueError:
        n = 0
    if n < 1:
        raise DataError(f'{MAX_PIXELS_ENV}={text!r}: must be a positive number of pixels')
    return n


def header_size(data: bytes) -> Optional[tuple[int, int]]:
    """``(width, height)`` from the file header alone (Pillow reads no pixels), or None when
    Pillow does not know the format (OpenCV's own limit then applies)."""
    import io
    import warnings
    from PIL import Image
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # srkit's own limit, below, with srkit's message
    try:
        with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as im:
            warnings.simplefilter('ignore')
            return im.size
    except Exception:
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = old


def check_pixels(data: bytes, name: str) -> None:
    """Refuse, before decoding, an image whose header declares more than :func:`max_pixels`
    pixels: a PNG of a few KB can declare 30000x30000 (a decompression bomb)."""
    size = header_size(data)
    if size and size[0] * size[1] > max_pixels():
        w, h = size
        raise DataError(f'{name}: {w}x{h} pixels is over the limit of {max_pixels()} (a decompression bomb?); '
                        f'for a real image this large, set {MAX_PIXELS_ENV}')


def imdecode(data: bytes, name: str, flags: int = cv2.IMREAD_UNCHANGED):
    """``cv2.imdecode`` after :func:`check_pixels`; OpenCV's own size assertion as a DataError."""
    check_pixels(data, name)
    quiet_cv2()
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as e:
        detail = str(e).strip().splitlines()[-1] if str(e).strip() else 'OpenCV error'
        raise DataError(f'{name}: cannot decode image ({detail})') from None


def decode(data: bytes, name: str) -> Decoded:
    """Decode encoded image bytes; ``name`` (a path or key) is used in errors."""
    if not data:
        raise DataError(f'{name}: empty file')
    if looks_truncated(data):
        raise DataError(f'{name}: truncated image (JPEG without end marker)')
    try:
        img = imdecode(data, name)
    except MemoryError:
        raise DataError(f'{name}: out of memory decoding it (lower {MAX_PIXELS_ENV}, or free memory)') from None
    if img is None or img.size == 0:
        raise DataError(f'{name}: cannot decode image (unreadable, truncated or not an image)')
    if img.dtype == np.uint8:
        depth, scale = 8, 1 / 255.0
    elif img.dtype == np.uint16:
        depth, scale = 16, 1 / 65535.0
    elif img.dtype == np.float32:
        depth, scale = 32, 1.0
    else:
        raise DataError(f'{name}: unsupported pixel type {img.dtype}')
    img = img.astype(np.float32) * np.float32(scale)
    alpha = None
    if img.ndim == 2:
        channels = 1
        rgb = np.repeat(img[:, :, None], 3, axis=2)
    else:
        channels = img.shape[2]
        if channels == 1:
            rgb = np.repeat(img, 3, axis=2)
        elif channels == 3:
            rgb = img[:, :, ::-1]
        elif channels == 4:
            alpha = np.ascontiguousarray(img[:, :, 3])
            rgb = img[:, :, 2::-1]
        else:
            raise DataError(f'{name}: unsupported channel count {channels}')
    return Decoded(np.ascontiguousarray(rgb, dtype=np.float32), alpha, depth, channels)


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) still to apply to what :func:`decode` returns; 1 when none.

    OpenCV's IMREAD_UNCHANGED keeps JPEG, WebP and PNG pixels as stored but turns TIFFs
    itself, so TIFFs report 1.  Pillow only reads the header here.
    """
    if data[:4] in (b'II*\x00', b'MM\x00*'):
        return 1
    import io
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as im:
            o = int(im.getexif().get(0x0112, 1))
    except Exception:  # an unreadable EXIF block is not the image's problem
        return 1
    return o if 1 <= o <= 8 else 1


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn ``(H,W,...)`` stored pixels the way EXIF ``orientation`` says they are shown."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.swapaxes(0, 1), 6: lambda a: a.swapaxes(0, 1)[:, ::-1],
           7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: a.swapaxes(0, 1)[::-1]}
    return np.ascontiguousarray(ops[orientation](img)) if orientation in ops else img


def is_regular(path: str) -> bool:
    """Whether ``path`` (followed through links) is a regular file: a device, FIFO or socket
    named like an image is none, and is never opened for reading."""
    import stat
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def max_file_bytes() -> int:
    """The largest file any srkit image reader reads: 8 bytes per pixel of :func:`max_pixels`
    (an uncompressed 16-bit RGBA image of the largest size allowed), 2 GiB by default."""
    return 8 * max_pixels()


def read_bytes(path: str, limit: Optional[int] = None) -> bytes:
    """An image file's bytes (:func:`srkit.utils.fileio.read_file`): only a regular file, and at
    most ``limit`` bytes (default :func:`max_file_bytes`), checked before reading."""
    if limit is not None:
        return read_file(path, limit)
    return read_file(path, max_file_bytes(), f'; for a real image this large, raise {MAX_PIXELS_ENV}')


def read_image(path: str) -> np.ndarray:
    """Read a file as ``(H,W,3) RGB float32 in [0,1]`` (alpha dropped)."""
    return decode(read_bytes(path), path).rgb


def to_uint(rgb: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """``(H,W,3) RGB float in [0,1]`` -> BGR uint8/uint16 as cv2 writes it (rounded)."""
    maxv = 65535.0 if bit_depth == 16 else 255.0
    out = np.clip(np.rint(rgb * maxv), 0, maxv).astype(np.uint16 if bit_depth == 16 else np.uint8)
    if out.ndim == 3 and out.shape[2] == 3:
        out = out[:, :, ::-1]
    return np.ascontiguousarray(out)


def encode(rgb: np.ndarray, ext: str = '.png', bit_depth: int = 8,
           alpha: Optional[np.ndarray] = None, params: Optional[list] = None) -> bytes:
    """Encode ``(H,W,3) RGB float in [0,1]`` (plus optional alpha) to file bytes."""
    img = to_uint(rgb, bit_depth)
    if alpha is not None:
        a = to_uint(alpha, bit_depth)
        img = np.dstack([img, a])
    return _encoded(img, ext, params).tobytes()


def _encoded(img: np.ndarray, ext: str, params: Optional[list] = None) -> np.ndarray:
    """cv2's encoding of ``(H,W,3)`` BGR or ``(H,W,4)`` BGRA uint8/uint16: a uint8 buffer (no copy
    of it into bytes)."""
    ok, buf = cv2.imencode(ext, img, params or [])
    if not ok:
        raise DataError(f'cannot encode image as {ext}')
    return buf


def write_image(path: str, rgb: np.ndarray, bit_depth: int = 8, alpha: Optional[np.ndarray] = None) -> None:
    """Atomically write ``(H,W,3) RGB float in [0,1]`` to ``path`` (format from the suffix)."""
    ext = os.path.splitext(path)[1].lower() or '.png'
    atomic_write_bytes(path, encode(rgb, ext, bit_depth, alpha))


def write_encoded(path: str, img: np.ndarray) -> None:
    """Atomically write ``(H,W,3)`` BGR or ``(H,W,4)`` BGRA uint8/uint16 (:func:`to_uint`'s
    layout) to ``path`` (format from the suffix)."""
    ext = os.path.splitext(path)[1].lower() or '.png'
    atomic_write_bytes(path, _encoded(img, ext))  # file.write takes the buffer as it is


class PngRows:
    """A PNG file written a block of rows at a time, so that an image never has to be whole in
    memory: rows go through PNG's Up filter (each byte minus the one above it) and a zlib stream
    into IDAT chunks as they come.  ``width x height``, ``channels`` 1 (gray), 3 (RGB) or 4
    (RGBA), ``bits`` 8 or 16.  Use as a context manager around the writes; a file with fewer
    rows than ``height`` is refused at the end (ValueError), so no short file is ever kept."""

    def __init__(self, f, width: int, height: int, channels: int, bits: int = 8, level: int = 1):
        self.f, self.height, self.done, self.bits = f, height, 0, bits
        self.above = np.zeros(width * channels * bits // 8, np.uint8)
        self.z = zlib.compressobj(level)  # level 1: OpenCV's default for PNG too
        f.write(b'\x89PNG\r\n\x1a\n')
        self._chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, bits, {1: 0, 3: 2, 4: 6}[channels], 0, 0, 0))

    def _chunk(self, kind: bytes, data: bytes) -> None:
        self.f.write(struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data)))

    def write(self, rows: np.ndarray) -> None:
        """``(n,width,channels)`` uint8/uint16 rows, next from the top, channels in PNG's order."""
        n = rows.shape[0]
        b = np.ascontiguousarray(rows, '>u2' if self.bits == 16 else np.uint8).view(np.uint8).reshape(n, -1)
        filtered = np.empty((n, b.shape[1] + 1), np.uint8)
        filtered[:, 0] = 2  # the Up filter
        np.subtract(b[0], self.above, out=filtered[0, 1:])
        np.subtract(b[1:], b[:-1], out=filtered[1:, 1:])
        self.above = b[-1].copy()
        self.done += n
        data = self.z.compress(filtered.data)
        if data:
            self._chunk(b'IDAT', data)

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        if kind is None:
            if self.done != self.height:
                raise ValueError(f'PNG of {self.height} rows given {self.done}')
            self._chunk(b'IDAT', self.z.flush())
            self._chunk(b'IEND', b'')


def img2tensor(rgb: np.ndarray):
    """``(H,W,3)`` numpy float -> ``(3,H,W)`` torch float32 (no copy of channel order)."""
    import torch
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def tensor2img(t) -> np.ndarray:
    """``(3,H,W)`` or ``(1,3,H,W)`` torch RGB in [0,1] -> ``(H,W,3)`` float32 numpy, clamped."""
    if t.ndim == 4:
        t = t[0]
    return t.detach().float().clamp_(0, 1).cpu().numpy().transpose(1, 2, 0)


def images_by_stem(folder: str) -> dict[str, str]:
    """``{stem: file name}`` of the images directly in ``folder``.  Outputs and matches go by
    stem, so ``x.png`` beside ``x.jpg`` would lose one: refused, naming both."""
    out: dict[str, str] = {}
    for n in list_images(folder):
        stem = os.path.splitext(n)[0]
        if stem in out:
            raise DataError(f'{folder}: two images share the name {stem!r} ({out[stem]} and {n}); '
                            'outputs and matches go by name, so rename one')
        out[stem] = n
    return out


def list_images(folder: str) -> list[str]:
    """Sorted image file names (not paths) directly in ``folder``."""
    if not os.path.isdir(folder):
        raise DataError(f'{folder}: not a directory')
    return sorted(f for f in os.listdir(folder)
                  if f.lower().endswith(IMG_EXTENSIONS) and not f.startswith('.'))
