"""Datasets for image translation: aligned pairs (pix2pix) and labelled images (CGAN).

``AlignedImageDataset`` gives ``lq (3,S,S)``, the input domain, and ``gt (3,S,S)``, the
target, RGB float32 in [0,1], plus ``key``; the same resize, crop and flip are applied
to both.  The pairs come from the classic side-by-side ``A|B`` files (``dataroot_ab``) or
from two folders or LMDBs matched by key (``dataroot_a`` + ``dataroot_b``).

``LabelledImageDataset`` gives ``img (C,S,S)`` in [0,1] and ``label`` (int64) from a
folder with one sub-folder per class, or an LMDB with a ``labels.txt`` of
``key class`` lines.  Classes are numbered in sorted name order.
"""
from __future__ import annotations

import os
from typing import Literal, Optional

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError, OptionError
from ..config import MAX_SIZE, Bool, DatasetOptions, IntIn, Str, check_path
from ..registry import DATASET_REGISTRY
from ..utils.fileio import read_text
from ..utils.imgio import img2tensor
from .datasets import SRDataset, _split_index
from .storage import check_same_keys, open_storage
from .transforms import augment, joint_crop


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize of ``(H,W,C)`` float to ``size x size`` (the reference's ``resize_and_crop``)."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    out = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(out.reshape(size, size, -1), 0, 1)


class AlignedOptions(DatasetOptions):
    """AlignedImageDataset's keys (the pix2pix reference's flags).

    Attributes:
        dataroot_ab: a folder of side-by-side ``A|B`` files (the reference's format); give it or
            ``dataroot_a`` and ``dataroot_b``.
        dataroot_a: a folder (or ``.lmdb``) of A images, matched to ``dataroot_b`` by key.
        dataroot_b: a folder (or ``.lmdb``) of B images, matched to ``dataroot_a`` by key.
        direction: ``AtoB`` (default; ``lq`` = A, ``gt`` = B) or ``BtoA``.
        load_size: resize both images to ``load_size x load_size`` first, 1 to 16384 (the
            reference: 286); default: as stored.
        crop_size: then a random crop of this side in training (centred otherwise), at most
            ``load_size`` (the reference: 256); default: no crop.
        use_hflip: random horizontal flips in training (default true).
    """

    dataroot_ab: Optional[Str] = None  # A|B side-by-side files (the reference's format)
    dataroot_a: Optional[Str] = None   # or two folders/LMDBs matched by key
    dataroot_b: Optional[Str] = None
    direction: Literal['AtoB', 'BtoA'] = 'AtoB'
    load_size: Optional[IntIn(1, MAX_SIZE)] = None    # resize to load_size x load_size first (reference: 286)
    crop_size: Optional[IntIn(1, MAX_SIZE)] = None    # then a random crop (reference: 256); centred outside training
    use_hflip: Bool = True

    def check(self, path):
        super().check(path)
        if (self.dataroot_ab is None) == (self.dataroot_a is None and self.dataroot_b is None):
            raise OptionError(f'{path}: give dataroot_ab (A|B files) or dataroot_a and dataroot_b, not both')
        if self.dataroot_ab is not None:
            self.dataroot_ab = check_path(self.dataroot_ab, f'{path}.dataroot_ab')
        else:
            self.dataroot_a = check_path(self.dataroot_a, f'{path}.dataroot_a')
            self.dataroot_b = check_path(self.dataroot_b, f'{path}.dataroot_b')
        for k in ('load_size', 'crop_size'):
            v = getattr(self, k)
            if v is not None and v < 1:
                raise OptionError(f'{path}.{k}: must be a positive size, got {v}')
        if self.load_size and self.crop_size and self.crop_size > self.load_size:
            raise OptionError(f'{path}.crop_size: {self.crop_size} is larger than load_size {self.load_size}')


@DATASET_REGISTRY.register()
class AlignedImageDataset(SRDataset):
    """Aligned A/B pairs for pix2pix; see the module docstring."""

    Options = AlignedOptions

    def __init__(self, opt: AlignedOptions):
        super().__init__(opt)
        if opt.dataroot_ab is not None:
            self.ab = open_storage(opt.dataroot_ab, 'auto')
            self.a = self.b = None
            self.keys = list(self.ab.keys)
        else:
            self.ab = None
            self.a = open_storage(opt.dataroot_a, 'auto')
            self.b = open_storage(opt.dataroot_b, 'auto')
            check_same_keys(self.a, self.b, (opt.dataroot_a, opt.dataroot_b))
            self.keys = list(self.a.keys)

    def _pair(self, key):
        if self.ab is not None:
            name = self.ab.describe(key)
            ab = self.ab.read(key)
            w = ab.shape[1]
            if w % 2:
                raise DataError(f'{name}: an A|B image needs an even width, got {w}')
            return ab[:, : w // 2], ab[:, w // 2:], name
        a, b = self.a.read(key), self.b.read(key)
        if a.shape[:2] != b.shape[:2]:
            raise DataError(f'{self.b.describe(key)}: size {b.shape[1]}x{b.shape[0]} differs from '
                            f'{self.a.describe(key)} ({a.shape[1]}x{a.shape[0]})')
        return a, b, self.a.describe(key)

    def load(self, key, rng):
        o = self.opt
        a, b, name = self._pair(key)
        if o.load_size:
            a, b = resize_square(a, o.load_size), resize_square(b, o.load_size)
        if o.crop_size:
            if o.phase == 'train':
                a, b = joint_crop([a, b], o.crop_size, rng, name, load_size=o.load_size)
            else:
                h, w = a.shape[:2]
                if h < o.crop_size or w < o.crop_size:
                    raise DataError(f'{name}: image {h}x{w} is smaller than crop_size {o.crop_size}')
                top, left = (h - o.crop_size) // 2, (w - o.crop_size) // 2
                a, b = (im[top: top + o.crop_size, left: left + o.crop_size] for im in (a, b))
        if o.phase == 'train':
            (a, b), _ = augment([a, b], o.use_hflip, False, rng)
        src, dst = (a, b) if o.direction == 'AtoB' else (b, a)
        return {'lq': img2tensor(np.ascontiguousarray(src)), 'gt': img2tensor(np.ascontiguousarray(dst)),
                'key': key}


class LabelledOptions(DatasetOptions):
    """LabelledImageDataset's keys.

    Attributes:
        dataroot: a folder with one sub-folder of images per class (classes numbered in sorted
            name order), or an ``.lmdb``; required, must exist.
        labels_file: LMDB only: ``key class`` lines; default: ``<dataroot>/labels.txt``.
        img_size: resize each image to ``img_size x img_size``, 1 to 16384; default: as stored.
        channels: 1 (grey, default) or 3 (RGB).
    """

    dataroot: Optional[Str] = None     # class sub-folders, or an .lmdb
    labels_file: Optional[Str] = None  # LMDB only: `key class` lines (default: <lmdb>/labels.txt)
    img_size: Optional[IntIn(1, MAX_SIZE)] = None     # resize to img_size x img_size (default: as stored)
    channels: Literal[1, 3] = 1

    def check(self, path):
        super().check(path)
        self.dataroot = check_path(self.dataroot, f'{path}.dataroot')
        self.labels_file = check_path(self.labels_file, f'{path}.labels_file', required=False)
        if self.img_size is not None and self.img_size < 1:
            raise OptionError(f'{path}.img_size: must be positive, got {self.img_size}')


@DATASET_REGISTRY.register()
class LabelledImageDataset(Dataset):
    """Images with class labels for CGAN; see the module docstring."""

    Options = LabelledOptions

    def __init__(self, opt: LabelledOptions):
        self.opt = opt
        root = opt.dataroot
        self.items: list[tuple[object, str, int]] = []  # (storage, key, label)
        if root.rstrip('/').endswith('.lmdb'):
            st = open_storage(root, 'lmdb')
            lf = opt.labels_file or os.path.join(root, 'labels.txt')
            if not os.path.exists(lf):
                raise DataError(f'{root}: no labels file ({lf}); write `key class` lines there')
            labels = {}
            for n, line in enumerate(read_text(lf).splitlines(), 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise DataError(f'{lf}:{n}: expected `key class`, got {line.strip()!r}')
                labels[parts[0]] = parts[1]
            missing = [k for k in st.keys if k not in labels]
            if missing:
                raise DataError(f'{lf}: no label for {len(missing)} image(s), e.g. {missing[0]!r}')
            self.classes = sorted(set(labels[k] for k in st.keys))
            idx = {c: i for i, c in enumerate(self.classes)}
            self.items = [(st, k, idx[labels[k]]) for k in st.keys]
        else:
            if not os.path.isdir(root):
                raise DataError(f'{root}: not a folder of class folders or an .lmdb')
            self.classes = sorted(d for d in os.listdir(root)
                                  if os.path.isdir(os.path.join(root, d)) and not d.startswith('.'))
            if not self.classes:
                raise DataError(f'{root}: no class sub-folders (expected one folder of images per class)')
            for i, c in enumerate(self.classes):
                st = open_storage(os.path.join(root, c), 'disk')
                self.items += [(st, k, i) for k in st.keys]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        i, _rng = _split_index(idx)
        st, key, label = self.items[i]
        img = st.read(key)
        size = self.opt.img_size
        if size:
            img = resize_square(img, size)
        if self.opt.channels == 1:  # BT.601 luma: a gray file's own values (storage reads RGB)
            img = (img @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[:, :, None]
        return {'img': img2tensor(np.ascontiguousarray(img)), 'label': torch.tensor(label, dtype=torch.int64),
                'key': key}
