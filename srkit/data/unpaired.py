"""Unpaired images from two domains (DSGAN, CycleGAN).

``UnpairedImageDataset`` gives ``a (3,Sa,Sa)`` from domain A and ``b (3,Sb,Sb)``
from domain B (each a folder or an ``.lmdb``), RGB float32 in [0,1], each with its own crop and flips; index
``i`` walks domain A, and the B image is drawn at random (the sets are not
aligned).  Without ``dataroot_b`` it is DSGAN's "same domain" mode: ``b`` is a
native-resolution crop of the very image ``a`` was cut from, so B carries A's
own noise and compression statistics.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import OptionError
from ..config import MAX_SIZE, Bool, DatasetOptions, IntIn, Str, check_path
from ..registry import DATASET_REGISTRY
from ..utils.imgio import img2tensor
from .datasets import SRDataset, _split_index
from .storage import open_storage
from .transforms import augment, joint_crop
from .translation import resize_square


class UnpairedOptions(DatasetOptions):
    """UnpairedImageDataset's keys.

    Attributes:
        dataroot_a: a folder (or ``.lmdb``) of domain A images (DSGAN: the source images);
            required, must exist.
        dataroot_b: a folder (or ``.lmdb``) of domain B images (DSGAN: real LR images); default:
            none, DSGAN's same-domain mode (B crops cut from the A image).
        crop_a: side of the training crop of A in pixels, 1 to 16384 (DSGAN: 512); required for
            training.
        crop_b: side of the training crop of B, 1 to 16384 (DSGAN: 128), at most ``crop_a``
            without ``dataroot_b``; required for training.
        load_size: resize both domains to ``load_size x load_size`` first (CycleGAN: 286);
            default: as stored.
        use_hflip: random horizontal flips in training (default true).
        use_rot: random vertical flips and 90-degree rotations in training (default false).
    """

    dataroot_a: Optional[Str] = None   # domain A (DSGAN: the source images)
    dataroot_b: Optional[Str] = None   # domain B (DSGAN: real LR images); none: same-domain mode
    crop_a: Optional[IntIn(1, MAX_SIZE)] = None       # training crop of A (DSGAN: 512)
    crop_b: Optional[IntIn(1, MAX_SIZE)] = None       # training crop of B (DSGAN: 128)
    load_size: Optional[IntIn(1, MAX_SIZE)] = None    # resize both domains to load_size x load_size first (CycleGAN: 286)
    use_hflip: Bool = True
    use_rot: Bool = False

    def check(self, path):
        super().check(path)
        self.dataroot_a = check_path(self.dataroot_a, f'{path}.dataroot_a')
        self.dataroot_b = check_path(self.dataroot_b, f'{path}.dataroot_b', required=False)
        if self.phase == 'train':
            for k in ('crop_a', 'crop_b'):
                v = getattr(self, k)
                if v is None or v < 1:
                    raise OptionError(f'{path}.{k}: required for training, a positive size')
            if self.dataroot_b is None and self.crop_b > self.crop_a:
                raise OptionError(f'{path}.crop_b: {self.crop_b} is larger than crop_a {self.crop_a}; without '
                                  'dataroot_b the B crops are cut from the A crop')


@DATASET_REGISTRY.register()
class UnpairedImageDataset(SRDataset):
    """Two unaligned domains, each a folder or an LMDB; see the module docstring."""

    Options = UnpairedOptions

    def __init__(self, opt: UnpairedOptions):
        super().__init__(opt)
        # each domain is a folder or an LMDB on its own, told apart by the .lmdb suffix
        self.a = open_storage(opt.dataroot_a, 'auto')
        self.b = open_storage(opt.dataroot_b, 'auto') if opt.dataroot_b else None
        self.keys_b = list(self.b.keys) if self.b is not None else None
        self.keys = list(self.a.keys)
        # one epoch covers the larger domain (CycleGAN's convention)
        self._len = max(len(self.keys), len(self.keys_b or ()))

    def __len__(self):
        return self._len

    def __getitem__(self, idx):
        i, rng = _split_index(idx)
        return self.load(self.keys[i % len(self.keys)], rng)

    def _crop(self, img, size, rng, name, key):
        if self.opt.load_size:
            img = resize_square(img, self.opt.load_size)
        if self.opt.phase != 'train':
            return img
        img = joint_crop([img], size, rng, name, key, self.opt.load_size)[0]
        (img,), _ = augment([img], self.opt.use_hflip, self.opt.use_rot, rng)
        return img

    def load(self, key, rng):
        name_a = self.a.describe(key)
        a_full = self.a.read(key)
        a = self._crop(a_full, self.opt.crop_a, rng, name_a, 'crop_a')
        if self.b is None:
            key_b = key
            b = a
            if self.opt.phase == 'train':
                b = joint_crop([a], self.opt.crop_b, rng, name_a, 'crop_b')[0]
                (b,), _ = augment([b], self.opt.use_hflip, self.opt.use_rot, rng)
        else:
            key_b = self.keys_b[int(rng.integers(len(self.keys_b)))]
            b = self._crop(self.b.read(key_b), self.opt.crop_b, rng, self.b.describe(key_b), 'crop_b')
        return {'a': img2tensor(np.ascontiguousarray(a)), 'b': img2tensor(np.ascontiguousarray(b)),
                'key_a': key, 'key_b': key_b}
