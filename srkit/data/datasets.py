"""Paired GT/LQ and HR-only datasets.

Samples are dicts of ``(3,H,W) RGB float32 in [0,1]`` tensors ``gt`` and
``lq`` plus ``key``.  ``__getitem__`` takes an index, or an ``(index, seed)``
pair from :class:`~srkit.data.sampler.ResumableSampler`; all randomness comes
from ``numpy.random.default_rng(seed)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from torch.utils.data import Dataset

from degradations import build_pipeline, PIPELINES

from ..errors import DataError, OptionError
from ..options import DatasetOptions, check_path
from ..registry import DATASET_REGISTRY
from ..utils.imgio import img2tensor
from .storage import check_same_keys, open_storage
from .transforms import augment, check_pair, mod_crop, paired_random_crop, random_crop


def _split_index(idx):
    if isinstance(idx, tuple):
        return idx[0], np.random.default_rng(list(idx[1]) if isinstance(idx[1], tuple) else idx[1])
    # plain integer access (validation, users): deterministic per index
    return idx, np.random.default_rng(idx)


class SRDataset(Dataset):
    """Common storage handling; subclasses implement ``load(key, rng)``."""

    Options = DatasetOptions

    def __init__(self, opt):
        self.opt = opt
        self.scale = opt.scale

    def _open(self, root: str, meta_info_file: Optional[str] = None):
        return open_storage(root, self.opt.io_backend.type, meta_info_file)

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, idx):
        i, rng = _split_index(idx)
        return self.load(self.keys[i], rng)


@dataclass
class PairedOptions(DatasetOptions):
    dataroot_gt: Optional[str] = None
    dataroot_lq: Optional[str] = None
    meta_info_file: Optional[str] = None
    filename_tmpl: str = '{}'
    gt_size: Optional[int] = None
    use_hflip: bool = False
    use_rot: bool = False

    def validate(self, path):
        super().validate(path)
        self.dataroot_gt = check_path(self.dataroot_gt, f'{path}.dataroot_gt')
        self.dataroot_lq = check_path(self.dataroot_lq, f'{path}.dataroot_lq')
        self.meta_info_file = check_path(self.meta_info_file, f'{path}.meta_info_file', required=False)
        if '{}' not in self.filename_tmpl:
            raise OptionError(f'{path}.filename_tmpl: must contain {{}}, got {self.filename_tmpl!r}')
        _check_gt_size(self, path)


def _check_gt_size(opt, path):
    if opt.phase == 'train':
        if opt.gt_size is None:
            raise OptionError(f'{path}.gt_size: required for training')
        if opt.gt_size % opt.scale:
            raise OptionError(f'{path}.gt_size: {opt.gt_size} is not divisible by scale {opt.scale}')
        if opt.gt_size < opt.scale:
            raise OptionError(f'{path}.gt_size: must be >= scale {opt.scale}')


@DATASET_REGISTRY.register()
class PairedImageDataset(SRDataset):
    """Aligned GT/LQ images from two folders or two LMDBs, matched by key.

    LQ keys are ``filename_tmpl.format(gt_key)`` (BasicSR's convention). In the
    train phase: aligned random crop (GT ``gt_size``, LQ ``gt_size/scale``)
    and flips/rot90; otherwise whole images (GT cropped to LQ*scale).
    """

    Options = PairedOptions

    def __init__(self, opt: PairedOptions):
        super().__init__(opt)
        self.gt = self._open(opt.dataroot_gt, opt.meta_info_file)
        self.lq = self._open(opt.dataroot_lq)
        tmpl = opt.filename_tmpl
        self.keys = list(self.gt.keys)
        missing = [k for k in self.keys if tmpl.format(k) not in self.lq]
        if missing:
            raise DataError(f'{opt.dataroot_lq}: no LQ image for GT {self.gt.describe(missing[0])} '
                            f'(expected key {tmpl.format(missing[0])!r}; {len(missing)} missing in all)')
        if tmpl == '{}' and opt.meta_info_file is None:
            check_same_keys(self.gt, self.lq, (opt.dataroot_gt, opt.dataroot_lq))

    def load(self, key, rng):
        lq_key = self.opt.filename_tmpl.format(key)
        gt_name, lq_name = self.gt.describe(key), self.lq.describe(lq_key)
        gt = self.gt.read(key)
        lq = self.lq.read(lq_key)
        if self.opt.phase == 'train':
            gt, lq = paired_random_crop(gt, lq, self.opt.gt_size, self.scale, rng, gt_name, lq_name)
            (gt, lq), _ = augment([gt, lq], self.opt.use_hflip, self.opt.use_rot, rng)
        else:
            gt = check_pair(gt, lq, self.scale, gt_name, lq_name)
        return {'lq': img2tensor(lq), 'gt': img2tensor(gt), 'key': key}


@dataclass
class SingleHROptions(DatasetOptions):
    dataroot_gt: Optional[str] = None
    meta_info_file: Optional[str] = None
    gt_size: Optional[int] = None
    use_hflip: bool = False
    use_rot: bool = False
    # the degradation making LQ from GT: {type: bicubic, ...pipeline kwargs}
    degradation: dict[str, Any] = field(default_factory=lambda: {'type': 'bicubic'})

    def validate(self, path):
        super().validate(path)
        self.dataroot_gt = check_path(self.dataroot_gt, f'{path}.dataroot_gt')
        self.meta_info_file = check_path(self.meta_info_file, f'{path}.meta_info_file', required=False)
        _check_gt_size(self, path)
        if self.degradation.get('type') not in PIPELINES:
            raise OptionError(f'{path}.degradation.type: unknown degradation {self.degradation.get("type")!r} '
                              f'(known: {", ".join(sorted(PIPELINES))})')


@DATASET_REGISTRY.register()
class SingleHRDataset(SRDataset):
    """HR-only images whose LQ is made on the fly by a degradation pipeline.

    Train phase: random ``gt_size`` crop, flips/rot90, then the degradation.
    Val phase: the whole image, mod-cropped to the scale, then the degradation
    with a seed fixed per image, so validation LQs never change.
    """

    Options = SingleHROptions

    def __init__(self, opt: SingleHROptions):
        super().__init__(opt)
        self.gt = self._open(opt.dataroot_gt, opt.meta_info_file)
        self.keys = list(self.gt.keys)
        kwargs = {k: v for k, v in opt.degradation.items() if k != 'type'}
        self.degrade = build_pipeline(opt.degradation['type'], **kwargs)

    def load(self, key, rng):
        name = self.gt.describe(key)
        gt = self.gt.read(key)
        if self.opt.phase == 'train':
            gt = random_crop(gt, self.opt.gt_size, rng, name)
            (gt,), _ = augment([gt], self.opt.use_hflip, self.opt.use_rot, rng)
        else:
            gt = mod_crop(gt, self.scale)
            if min(gt.shape[:2]) < self.scale:
                raise DataError(f'{name}: image {gt.shape[0]}x{gt.shape[1]} is smaller than the scale {self.scale}')
        lq, _params = self.degrade(gt, self.scale, rng)
        return {'lq': img2tensor(np.ascontiguousarray(lq, dtype=np.float32)), 'gt': img2tensor(gt), 'key': key}
