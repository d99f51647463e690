"""Paired GT/LQ, HR-only and Real-ESRGAN (GT + kernels) datasets.

Samples are dicts of ``(3,H,W) RGB float32 in [0,1]`` tensors ``gt`` and
``lq`` plus ``key``.  ``__getitem__`` takes an index, or an ``(index, seed)``
pair from :class:`~srkit.data.sampler.ResumableSampler`; all randomness comes
from ``numpy.random.default_rng(seed)``.
"""
from __future__ import annotations

import os
from typing import Any, Literal, Optional, Union

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from degradations import build_pipeline, check_options, load_preset, PIPELINES
from degradations.kernels import KERNEL_KINDS
from degradations.realesrgan import KernelConfig, sample_kernels

from ..errors import DataError, OptionError
from ..config import (MAX_SIZE, Bool, DatasetOptions, Float, IntIn, Str, check_degradation, check_path,
                      check_roots)
from ..registry import DATASET_REGISTRY
from ..utils.fileio import read_text
from ..utils.imgio import img2tensor
from .storage import FolderStorage, check_same_keys, open_storage
from .transforms import augment, check_pair, mod_crop, paired_random_crop, random_crop, rgb_to_y


# a dataset's folder, or several read as one (traiNNer-redux's lists; ``storage.ConcatStorage``)
Roots = Union[Str, list[Str]]


def _check_roots(opt, path: str, *keys: str) -> None:
    """``dataroot_*`` keys that may be lists: each checked; GT and LQ lists pair folder by folder,
    so they hold as many; a ``meta_info_file`` lists the images of one folder."""
    for k in keys:
        setattr(opt, k, check_roots(getattr(opt, k), f'{path}.{k}'))
    lists = {k: len(getattr(opt, k)) for k in keys if isinstance(getattr(opt, k), list)}
    if lists and len(lists) != len(keys) or len(set(lists.values())) > 1:
        counts = ', '.join(f'{k}: {lists.get(k, 1)}' for k in keys)
        raise OptionError(f'{path}.{keys[-1]}: the folders pair one to one, but {counts} folders')
    if lists:
        for k in ('meta_info_file', 'meta_info'):
            if getattr(opt, k, None):
                raise OptionError(f'{path}.{k}: lists the images of one folder; with a list of '
                                  f'{keys[0]}, leave it out')


def _split_index(idx):
    if isinstance(idx, tuple):
        return idx[0], np.random.default_rng(list(idx[1]) if isinstance(idx[1], tuple) else idx[1])
    # plain integer access (validation, users): deterministic per index
    return idx, np.random.default_rng(idx)


class SRDataset(Dataset):
    """Common storage handling; subclasses implement ``load(key, rng)``."""

    Options = DatasetOptions
    has_gt = True  # its samples hold a ground truth (``gt``) to score outputs against

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


class PairedOptions(DatasetOptions):
    """PairedImageDataset's keys (BasicSR's names).

    Attributes:
        dataroot_gt: the folder (or ``.lmdb`` with ``io_backend: lmdb``) of GT images; required,
            must exist; a list of them is read as one set (traiNNer-redux's lists).
        dataroot_lq: the folder (or ``.lmdb``) of LQ images, matched to the GT by key; required,
            must exist; a list pairs with ``dataroot_gt``'s list, folder by folder.
        meta_info_file: a text file listing the GT images to use, one per line; default: every
            image in ``dataroot_gt`` (an LMDB: its own ``meta_info.txt``).
        filename_tmpl: the LQ key of each GT key, a template with ``{}`` (default ``{}``: the same
            name; e.g. ``{}x4``).
        gt_size: side of the GT training crop in pixels, 1 to 16384, divisible by ``scale`` (the LQ
            crop is ``gt_size / scale``); required for training, unused when validating.
        use_hflip: random horizontal flips in training (default false).
        use_rot: random vertical flips and 90-degree rotations in training (default false).
        color: ``y``: the images' BT.601 luma only (MATLAB's ``rgb2ycbcr``, BasicSR's key), so a
            1-channel network trains on them (ECBSR's recipes); default: RGB.
    """

    dataroot_gt: Optional[Roots] = None
    dataroot_lq: Optional[Roots] = None
    meta_info_file: Optional[Str] = None
    filename_tmpl: Str = '{}'
    gt_size: Optional[IntIn(1, MAX_SIZE)] = None
    use_hflip: Bool = False
    use_rot: Bool = False
    color: Optional[Literal['y']] = None

    def check(self, path):
        super().check(path)
        _check_roots(self, path, 'dataroot_gt', 'dataroot_lq')
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
        self._open_pair(opt)
        self.keys = list(self.gt.keys)
        missing = [k for k in self.keys if self.lq_key(k) not in self.lq]
        if missing:
            raise DataError(f'{self.lq.root}: no LQ image for GT {self.gt.describe(missing[0])} '
                            f'(expected key {self.lq_key(missing[0])!r}; {len(missing)} missing in all)')
        if opt.filename_tmpl == '{}' and opt.meta_info_file is None and not getattr(opt, 'meta_info', None):
            check_same_keys(self.gt, self.lq, (self.gt.root, self.lq.root))

    def _open_pair(self, opt) -> None:
        self.gt = self._open(opt.dataroot_gt, opt.meta_info_file)
        self.lq = self._open(opt.dataroot_lq)

    def lq_key(self, key: str) -> str:
        """The LQ image of GT ``key``: BasicSR's ``filename_tmpl``."""
        return self.opt.filename_tmpl.format(key)

    def load(self, key, rng):
        lq_key = self.lq_key(key)
        gt_name, lq_name = self.gt.describe(key), self.lq.describe(lq_key)
        gt = self.gt.read(key)
        lq = self.lq.read(lq_key)
        if self.opt.phase == 'train':
            gt, lq = paired_random_crop(gt, lq, self.opt.gt_size, self.scale, rng, gt_name, lq_name)
            (gt, lq), _ = augment([gt, lq], self.opt.use_hflip, self.opt.use_rot, rng)
        else:
            gt = check_pair(gt, lq, self.scale, gt_name, lq_name)
        if self.opt.color == 'y':
            gt, lq = rgb_to_y(gt), rgb_to_y(lq)
        return {'lq': img2tensor(lq), 'gt': img2tensor(gt), 'key': key}


class SingleOptions(DatasetOptions):
    """SingleImageDataset's keys (BasicSR's): LQ images with no ground truth.

    Attributes:
        dataroot_lq: the folder (or ``.lmdb`` with ``io_backend: lmdb``) of LQ images; required,
            must exist; a list of them is read as one set.
        meta_info_file: a text file listing the images to use, one per line; default: every image.
        color: ``y``: the images' BT.601 luma only (as PairedImageDataset's); default: RGB.
        mean, std: BasicSR's per-channel normalisation, accepted only as none (srkit's networks
            take [0,1] images).
    """

    dataroot_lq: Optional[Roots] = None
    meta_info_file: Optional[Str] = None
    color: Optional[Literal['y']] = None
    mean: Optional[Literal[None]] = None
    std: Optional[Literal[None]] = None

    def check(self, path):
        super().check(path)
        if self.phase == 'train':
            raise OptionError(f'{path}.type: SingleImageDataset has no ground truth to train on; it validates '
                              '(its outputs are saved, no-reference metrics scored)')
        _check_roots(self, path, 'dataroot_lq')
        self.meta_info_file = check_path(self.meta_info_file, f'{path}.meta_info_file', required=False)


@DATASET_REGISTRY.register()
class SingleImageDataset(SRDataset):
    """BasicSR's ``SingleImageDataset``: LQ images alone (``lq`` and ``key``), for validation
    sets of real photos without a ground truth, such as LDL's and Real-ESRGAN's."""

    Options = SingleOptions
    has_gt = False

    def __init__(self, opt: SingleOptions):
        super().__init__(opt)
        self.lq = self._open(opt.dataroot_lq, opt.meta_info_file)
        self.keys = list(self.lq.keys)

    def load(self, key, rng):
        lq = self.lq.read(key)
        if self.opt.color == 'y':
            lq = rgb_to_y(lq)
        return {'lq': img2tensor(lq), 'key': key}


class RealESRGANPairedOptions(PairedOptions):
    """Real-ESRGAN's paired fine-tuning set: ``meta_info`` lines ``gt_relpath, lq_relpath``
    (relative to ``dataroot_gt`` and ``dataroot_lq``); without it, the two folders matched by
    ``filename_tmpl``; with LMDBs, both LMDBs' own keys.

    Attributes:
        meta_info: a text file of ``gt_relpath, lq_relpath`` lines (relative to ``dataroot_gt``
            and ``dataroot_lq``); ignored with LMDBs; default: the folders matched by ``filename_tmpl``.
    """

    meta_info: Optional[Str] = None

    def check(self, path):
        super().check(path)
        if self.meta_info is not None and self.io_backend.type == 'lmdb':
            self.meta_info = None  # as Real-ESRGAN: the LMDBs' own meta_info.txt
        self.meta_info = check_path(self.meta_info, f'{path}.meta_info', required=False)


@DATASET_REGISTRY.register()
class RealESRGANPairedDataset(PairedImageDataset):
    """Real-ESRGAN's ``RealESRGANPairedDataset``: aligned GT/LQ pairs for fine-tuning with
    ``high_order_degradation: false``; crops and flips as :class:`PairedImageDataset`."""

    Options = RealESRGANPairedOptions

    def _open_pair(self, opt) -> None:
        self._pairs = None
        if opt.meta_info is None:
            return super()._open_pair(opt)
        pairs = []
        for i, line in enumerate(read_text(opt.meta_info).splitlines(), 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.strip().split(',')]
            if len(parts) != 2 or not all(parts):
                raise DataError(f'{opt.meta_info}:{i}: expected "gt_path, lq_path", got {line.strip()!r}')
            pairs.append(parts)
        for root, col in ((opt.dataroot_gt, 0), (opt.dataroot_lq, 1)):
            missing = [p[col] for p in pairs if not os.path.isfile(os.path.join(root, p[col]))]
            if missing:
                raise DataError(f'{opt.meta_info}: lists {len(missing)} image(s) missing from {root}, e.g. '
                                f'{os.path.join(root, missing[0])}')
        self.gt = FolderStorage(opt.dataroot_gt, [p[0] for p in pairs])
        self.lq = FolderStorage(opt.dataroot_lq, [p[1] for p in pairs])
        self._pairs = dict(zip(self.gt.keys, self.lq.keys))

    def lq_key(self, key: str) -> str:
        return self._pairs[key] if self._pairs is not None else super().lq_key(key)


class SingleHROptions(DatasetOptions):
    """SingleHRDataset's keys: HR images and the degradation that makes their LQ.

    Attributes:
        dataroot_gt: the folder (or ``.lmdb`` with ``io_backend: lmdb``) of HR images; required,
            must exist; a list of them is read as one set (traiNNer-redux's lists).
        meta_info_file: a text file listing the images to use, one per line; default: every image.
        gt_size: side of the HR training crop in pixels, 1 to 16384, divisible by ``scale``;
            required for training, unused when validating.
        use_hflip: random horizontal flips in training (default false).
        use_rot: random vertical flips and 90-degree rotations in training (default false).
        degradation: the pipeline that makes the LQ: ``{type: bicubic}`` (default), another
            pipeline of ``degradations`` (``bsrgan``, ``sensor_noise`` ...) with its keywords, or
            ``{preset: NAME or FILE, ...}`` with keys that override the preset's.
    """

    dataroot_gt: Optional[Roots] = None
    meta_info_file: Optional[Str] = None
    gt_size: Optional[IntIn(1, MAX_SIZE)] = None
    use_hflip: Bool = False
    use_rot: Bool = False
    # the degradation making LQ from GT: {type: bicubic, ...pipeline kwargs} or {preset: NAME|FILE, ...}
    degradation: dict[str, Any] = {'type': 'bicubic'}

    def check(self, path):
        super().check(path)
        _check_roots(self, path, 'dataroot_gt')
        self.meta_info_file = check_path(self.meta_info_file, f'{path}.meta_info_file', required=False)
        _check_gt_size(self, path)
        deg = dict(self.degradation)
        if 'preset' in deg:  # a shipped preset or preset file, its keys overridden by the others here
            try:
                base = load_preset(str(deg.pop('preset')))
            except ValueError as e:
                raise OptionError(f'{path}.degradation.preset: {e}') from None
            deg = {**base, **deg}
        if deg.get('type') not in PIPELINES:
            raise OptionError(f'{path}.degradation.type: unknown degradation {deg.get("type")!r} '
                              f'(known: {", ".join(sorted(PIPELINES))})')
        try:
            check_options(deg['type'], {k: v for k, v in deg.items() if k != 'type'})
        except KeyError as e:
            raise OptionError(f'{path}.degradation: {e.args[0]}') from None
        check_degradation(deg['type'], {k: v for k, v in deg.items() if k != 'type'}, f'{path}.degradation')
        self.degradation = deg


@DATASET_REGISTRY.register()
class SingleHRDataset(SRDataset):
    """HR-only images whose LQ is made on the fly by a degradation pipeline.

    Train phase: random ``gt_size`` crop, flips/rot90, then the degradation; the GT
    is the HR the pipeline returns (BSRGAN's ``lq_patchsize`` crops it further).
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
        try:
            lq, gt, _params = self.degrade(gt, self.scale, rng)
        except ValueError as e:  # e.g. an image too small for the pipeline's lq_patchsize
            raise DataError(f'{name}: {e}') from None
        return {'lq': img2tensor(np.ascontiguousarray(lq, dtype=np.float32)),
                'gt': img2tensor(np.ascontiguousarray(gt, dtype=np.float32)), 'key': key}


class RealESRGANDatasetOptions(DatasetOptions):
    """RealESRGANDataset's keys (Real-ESRGAN's recipe names; defaults = x4plus).

    Attributes:
        dataroot_gt: the folder (or ``.lmdb`` with ``io_backend: lmdb``) of HR images; required,
            must exist; a list of them is read as one set (traiNNer-redux's lists).
        meta_info_file: a text file listing the images to use (paths relative to
            ``dataroot_gt``); ignored with LMDBs; default: every image.
        meta_info: Real-ESRGAN's name for ``meta_info_file``; give one of the two.
        gt_size: accepted for Real-ESRGAN's recipes; the model crops after degrading, to the
            top-level ``gt_size``.
        crop_pad_size: side of the GT crop in pixels, 1 to 16384 (default 400); smaller images are
            reflect-padded to it.
        use_hflip: random horizontal flips (default true).
        use_rot: random vertical flips and 90-degree rotations (default false).
        blur_kernel_size: the largest blur kernel side, an odd number >= 7, equal to
            ``blur_kernel_size2`` (default 21); kernels are drawn with odd sides from 7 up to it.
        kernel_list: the first blur's kernel kinds (``iso``, ``aniso``, ``generalized_iso`` ...).
        kernel_prob: the probability of each ``kernel_list`` kind, one number >= 0 per kind.
        sinc_prob: probability, in [0, 1], that the first blur is a sinc filter (default 0.1).
        blur_sigma: [low, high] Gaussian sigma of the first blur, in pixels (default [0.2, 3]).
        betag_range: [low, high] shape of the first blur's generalized Gaussian kernels (default
            [0.5, 4]).
        betap_range: [low, high] shape of the first blur's plateau kernels (default [1, 2]).
        blur_kernel_size2: the second blur's largest kernel side, equal to ``blur_kernel_size``.
        kernel_list2: the second blur's kernel kinds.
        kernel_prob2: the probability of each ``kernel_list2`` kind.
        sinc_prob2: probability that the second blur is a sinc filter (default 0.1).
        blur_sigma2: [low, high] Gaussian sigma of the second blur (default [0.2, 1.5]).
        betag_range2: [low, high] shape of the second blur's generalized Gaussian kernels.
        betap_range2: [low, high] shape of the second blur's plateau kernels.
        final_sinc_prob: probability, in [0, 1], of the final sinc filter (default 0.8).
        kernel_range: [low, high]: the first blur's kernel sides are the odd numbers from low to high
            (traiNNer-redux's key); default: 7 to ``blur_kernel_size``.
        kernel_range2: the same for the second blur; default: ``kernel_range``.
        final_kernel_range: the same for the final sinc filter; default: ``kernel_range``.
    """

    dataroot_gt: Optional[Roots] = None
    meta_info_file: Optional[Str] = None
    meta_info: Optional[Str] = None  # Real-ESRGAN's name for meta_info_file
    gt_size: Optional[IntIn(1, MAX_SIZE)] = None  # the model crops after degrading: must equal the top-level gt_size
    crop_pad_size: IntIn(1, MAX_SIZE) = 400
    use_hflip: Bool = True
    use_rot: Bool = False
    blur_kernel_size: IntIn(1, 255) = 21
    kernel_list: list[Str] = list(KERNEL_KINDS)
    kernel_prob: list[Float] = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
    sinc_prob: Float = 0.1
    blur_sigma: list[Float] = [0.2, 3.0]
    betag_range: list[Float] = [0.5, 4.0]
    betap_range: list[Float] = [1.0, 2.0]
    blur_kernel_size2: IntIn(1, 255) = 21
    kernel_list2: list[Str] = list(KERNEL_KINDS)
    kernel_prob2: list[Float] = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
    sinc_prob2: Float = 0.1
    blur_sigma2: list[Float] = [0.2, 1.5]
    betag_range2: list[Float] = [0.5, 4.0]
    betap_range2: list[Float] = [1.0, 2.0]
    final_sinc_prob: Float = 0.8
    kernel_range: Optional[list[IntIn(1, 255)]] = None
    kernel_range2: Optional[list[IntIn(1, 255)]] = None
    final_kernel_range: Optional[list[IntIn(1, 255)]] = None

    def check(self, path):
        super().check(path)
        for key in ('kernel_range', 'kernel_range2', 'final_kernel_range'):
            v = getattr(self, key)
            if v is not None and (len(v) != 2 or v[0] % 2 == 0 or not 3 <= v[0] <= v[1] <= self.blur_kernel_size):
                raise OptionError(f'{path}.{key}: expected [low, high], an odd low >= 3 and low <= high <= '
                                  f'blur_kernel_size {self.blur_kernel_size}, got {v}')
        if self.phase != 'train':
            raise OptionError(f'{path}.type: RealESRGANDataset makes training batches (GT + kernels); validate '
                              'with PairedImageDataset or SingleHRDataset')
        _check_roots(self, path, 'dataroot_gt')
        if self.meta_info and self.meta_info_file:
            raise OptionError(f'{path}.meta_info: give meta_info or meta_info_file, not both')
        if self.io_backend.type == 'lmdb':
            # as Real-ESRGAN: an LMDB's keys are its own meta_info.txt; a list left in the recipe is ignored
            self.meta_info = self.meta_info_file = None
        self.meta_info_file = check_path(self.meta_info_file or self.meta_info, f'{path}.meta_info_file',
                                         required=False)
        if self.blur_kernel_size != self.blur_kernel_size2 or self.blur_kernel_size % 2 == 0 \
                or self.blur_kernel_size < 7:
            raise OptionError(f'{path}.blur_kernel_size: expected one odd size >= 7 for both stages, got '
                              f'{self.blur_kernel_size} and {self.blur_kernel_size2}')
        for suffix in ('', '2'):
            kinds, prob = getattr(self, 'kernel_list' + suffix), getattr(self, 'kernel_prob' + suffix)
            bad = [k for k in kinds if k not in KERNEL_KINDS]
            if bad:
                raise OptionError(f'{path}.kernel_list{suffix}: unknown kernel {bad[0]!r} '
                                  f'(known: {", ".join(KERNEL_KINDS)})')
            if len(prob) != len(kinds) or min(prob) < 0 or sum(prob) <= 0:
                raise OptionError(f'{path}.kernel_prob{suffix}: expected {len(kinds)} non-negative '
                                  f'probabilities, one per kernel_list{suffix} entry')
        if self.crop_pad_size < 1:
            raise OptionError(f'{path}.crop_pad_size: must be >= 1')

    def kernel_config(self) -> KernelConfig:
        def sides(v):
            return tuple(range(v[0], v[1] + 1, 2)) if v else None

        first = sides(self.kernel_range) or tuple(range(7, min(21, self.blur_kernel_size) + 1, 2))
        return KernelConfig.from_dict({**self.__dict__, 'size': self.blur_kernel_size, 'kernel_range': first,
                                       'kernel_range2': sides(self.kernel_range2),
                                       'final_kernel_range': sides(self.final_kernel_range)})


@DATASET_REGISTRY.register()
class RealESRGANDataset(SRDataset):
    """HR images for Real-ESRGAN training: a flipped, ``crop_pad_size`` GT crop
    (reflect-padded when smaller) and the three kernels of the second-order
    degradation, drawn here in the workers; the model degrades the batch.

    Samples hold ``gt (3,S,S)``, ``kernel1``, ``kernel2``, ``sinc_kernel``
    ``(k,k)`` float32 and ``key``.
    """

    Options = RealESRGANDatasetOptions

    def __init__(self, opt: RealESRGANDatasetOptions):
        super().__init__(opt)
        self.gt = self._open(opt.dataroot_gt, opt.meta_info_file)
        self.keys = list(self.gt.keys)
        self.kernel_cfg = opt.kernel_config()

    def load(self, key, rng):
        gt = self.gt.read(key)
        (gt,), _ = augment([gt], self.opt.use_hflip, self.opt.use_rot, rng)
        s = self.opt.crop_pad_size
        h, w = gt.shape[:2]
        if h < s or w < s:  # reflect-pad small images at the bottom and right, as Real-ESRGAN does
            gt = cv2.copyMakeBorder(gt, 0, max(0, s - h), 0, max(0, s - w), cv2.BORDER_REFLECT_101)
        gt = random_crop(gt, s, rng, self.gt.describe(key))
        kernels, _params = sample_kernels(rng, self.kernel_cfg)
        return {'gt': img2tensor(gt), 'kernel1': torch.from_numpy(kernels[0]), 'kernel2': torch.from_numpy(kernels[1]),
                'sinc_kernel': torch.from_numpy(kernels[2]), 'key': key}
