"""What ``srkit-dataset`` reads: image folders (recursively), BasicSR-layout LMDBs, and videos
(a frame every N, and/or at scene changes).

The work is cut into :class:`Unit` s, one per image or video, each with a key unique over the
run (its path under its input without the extension; with several inputs, under the input's
name).  A unit reads as a list of ``(frame, image)``, the image ``(H,W,3) RGB float32 in [0,1]``
and ``frame`` ``None`` for a still image.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from ..errors import DataError, UserError
from ..utils.imgio import IMG_EXTENSIONS, is_regular, max_pixels, MAX_PIXELS_ENV
from ..utils.naming import name

VIDEO_EXTENSIONS = ('.mp4', '.mkv', '.avi', '.mov', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv', '.flv')
MAX_FRAMES_READ = 1_000_000  # frames decoded from one video at most (about 9 hours at 30 fps)
MAX_SOURCES = 10_000_000
SCENE_THUMB = (64, 36)  # the grey thumbnail scene changes are measured on


@dataclass(frozen=True)
class Unit:
    """One image or video: ``key`` (unique in the run), ``input`` (its root), ``ref`` (a storage
    key, or a video's path), ``video``."""

    key: str
    input: str
    ref: str
    video: bool = False


@dataclass(frozen=True)
class FrameRule:
    """Which video frames are read: every ``every``-th (from frame 0) and, with ``scene``, each
    frame whose grey thumbnail differs from the previous frame's by more than ``scene`` (mean
    absolute 8-bit levels); frame 0 always."""

    every: Optional[int] = None
    scene: Optional[float] = None

    def wants(self, index: int, change: float) -> bool:
        if index == 0:
            return True
        if self.every and index % self.every == 0:
            return True
        return self.scene is not None and change > self.scene


def _walk(root: str) -> tuple[list[str], list[str]]:
    """``(images, videos)``: relative paths under ``root``, sorted, hidden files and folders left
    out, links to folders not followed (no cycles).  A device or FIFO named like an image or a
    video is listed: reading it fails with one line, never blocks."""
    images, videos = [], []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith('.'))
        for f in sorted(files):
            low = f.lower()
            if f.startswith('.') or not low.endswith(IMG_EXTENSIONS + VIDEO_EXTENSIONS):
                continue
            path = os.path.join(d, f)
            rel = os.path.relpath(path, root).replace(os.sep, '/')
            (videos if low.endswith(VIDEO_EXTENSIONS) else images).append(rel)
            if len(images) + len(videos) > MAX_SOURCES:
                raise UserError(f'{name("input")} {root}: over {MAX_SOURCES} files; split the input')
    return images, videos


def plan(inputs: list[str]) -> tuple[list[Unit], dict]:
    """Every unit of ``inputs`` in a fixed order, and the storages by input root.  A missing
    input, an empty one or two units with one key is one line."""
    from ..data.storage import FolderStorage, open_storage
    units: list[Unit] = []
    storages: dict = {}
    real = [os.path.realpath(i) for i in inputs]
    for i, (a, ra) in enumerate(zip(inputs, real)):
        for j, (b, rb) in enumerate(zip(inputs, real)):
            if i != j and (ra == rb or ra.startswith(rb.rstrip(os.sep) + os.sep)):
                raise UserError(f'{name("input")} {a}: is or lies inside the input {b}; its images would count twice')
    bases = [os.path.basename(os.path.normpath(i)) for i in inputs]
    if len(set(bases)) < len(bases):
        dup = next(b for b in bases if bases.count(b) > 1)
        raise UserError(f'{name("input")}: two inputs are named {dup!r}; their tiles would share names')
    for root, base in zip(inputs, bases):
        prefix = f'{base}/' if len(inputs) > 1 else ''
        if root.rstrip('/').endswith('.lmdb'):
            try:
                st = open_storage(root, 'lmdb')
            except DataError as e:
                raise UserError(str(e)) from None
            storages[root] = st
            units += [Unit(prefix + k, root, k) for k in sorted(st.keys)]
            continue
        if os.path.isfile(root) and root.lower().endswith(VIDEO_EXTENSIONS):
            stem = os.path.splitext(os.path.basename(root))[0]
            units.append(Unit(prefix + stem if prefix else stem, root, root, True))
            continue
        if not os.path.isdir(root):
            raise UserError(f'{name("input")} {root}: not a folder, an LMDB or a video')
        images, videos = _walk(root)
        if not images and not videos:
            raise UserError(f'{name("input")} {root}: no images or videos found')
        if images:
            try:
                st = FolderStorage(root, images)
            except DataError as e:
                raise UserError(str(e)) from None
            storages[root] = st
            units += [Unit(prefix + k, root, k) for k in st.keys]
        units += [Unit(prefix + os.path.splitext(v)[0], root, os.path.join(root, v), True) for v in videos]
    check_names(units)
    return units, storages


def flat(key: str) -> str:
    """A unit's key as the stem of its tiles' file names (``sub/x`` -> ``sub__x``)."""
    return key.replace('/', '__')


MAX_STEM_BYTES = 200  # a tile's name adds at most _f000000_s00000.png to it, under the usual 255


def check_names(units: list[Unit]) -> None:
    """Refuse, before anything is read, units whose tiles would share a file name (``sub/x`` and
    ``sub__x``; a video ``v`` and an image ``v_f000030``), or whose names no tile file or
    meta_info line can carry (a line break; too long)."""
    import re
    seen: dict[str, Unit] = {}
    for u in units:
        f = flat(u.key)
        if '\n' in f or '\r' in f:
            raise UserError(f'{name("input")}: {u.ref}: a line break in the name cannot be a meta_info.txt line; '
                            'rename it')
        if len(f.encode('utf-8', 'surrogateescape')) > MAX_STEM_BYTES:
            raise UserError(f'{name("input")}: {u.ref}: the name is over {MAX_STEM_BYTES} bytes with its folders; '
                            'its tiles\' names would be too long for the file system, so rename it')
        if f in seen:
            raise UserError(f'{name("input")}: {u.ref} and {seen[f].ref} would give their tiles the same names '
                            f'({f}_...); rename one')
        seen[f] = u
    for u in units:
        m = re.fullmatch(r'(.*)_f\d{6}', flat(u.key))
        if m and m.group(1) in seen and seen[m.group(1)].video and not u.video:
            raise UserError(f'{name("input")}: {u.ref} has the name of a frame of the video {seen[m.group(1)].ref}; '
                            'rename it')


def read_unit(unit: Unit, storage, rule: FrameRule) -> Iterator[tuple[Optional[int], np.ndarray, int]]:
    """The images of ``unit``: ``(frame, (H,W,3) RGB float32 [0,1], bit depth)``; a video's
    selected frames one at a time (memory: one frame).  Raises :class:`DataError` naming it."""
    if not unit.video:
        from ..utils.imgio import decode
        d = decode(storage.get_bytes(unit.ref), storage.describe(unit.ref))
        yield None, d.rgb, 16 if d.bit_depth == 16 else 8
        return
    yield from _read_video(unit.ref, rule)


def _read_video(path: str, rule: FrameRule):
    import cv2
    if not is_regular(path):  # a FIFO would block the decoder
        raise DataError(f'{path}: not a regular file')
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise DataError(f'{path}: cannot open the video (unreadable, or not a video OpenCV can decode)')
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if w * h > max_pixels():
            raise DataError(f'{path}: {w}x{h} frames are over the limit of {max_pixels()} pixels; for a real video '
                            f'this large, set {MAX_PIXELS_ENV}')
        prev = None
        index = -1
        got = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            index += 1
            if index >= MAX_FRAMES_READ:
                raise DataError(f'{path}: over {MAX_FRAMES_READ} frames; cut the video')
            change = 0.0
            if rule.scene is not None:
                grey = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), SCENE_THUMB,
                                  interpolation=cv2.INTER_AREA).astype(np.float32)
                change = float(np.abs(grey - prev).mean()) if prev is not None else 0.0
                prev = grey
            if rule.wants(index, change):
                got += 1
                rgb = np.ascontiguousarray(bgr[..., ::-1], dtype=np.float32) / np.float32(255)
                yield index, rgb, 8
        if got == 0:
            raise DataError(f'{path}: no frame could be decoded')
    finally:
        cap.release()
