"""Real-ESRNet and Real-ESRGAN: SR trained on second-order degradations made on the fly.

The dataset (``RealESRGANDataset``) returns GT crops and three kernels per
sample; ``prepare_batch`` degrades the batch on the training device under
``no_grad`` (:class:`degradations.realesrgan.Degrader`: second order, paired
crop to ``gt_size``, pair pool, USM of the GT).  The degradation settings are
top-level keys, as in Real-ESRGAN's recipes, so those YAML files load as-is.

Losses follow Real-ESRGAN: the pixel and perceptual terms compare with the
USM-sharpened GT (``l1_gt_usm``, ``percep_gt_usm``), D sees the plain GT
(``gan_gt_usm: false``).  Each rank's generators and pool are saved with the
training state, so resume is exact.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from degradations.realesrgan import ALL_RESIZE_MODES, Degrader, SecondOrderConfig
from degradations.torch_ops import usm_sharp_pt

from ..config import MAX_SIZE, Bool, IntIn, Schema, signature_model
from ..errors import DataError, OptionError
from ..registry import MODEL_REGISTRY
from .sr import SRModel
from .srgan import SRGANModel


# the degradation's keys are SecondOrderConfig's fields, with its defaults (train_realesrgan_x4plus.yml)
_SecondOrderKeys = signature_model('SecondOrderKeys', SecondOrderConfig, base=Schema)


class RealESRGANOptions(_SecondOrderKeys):
    """Real-ESRGAN's top-level recipe keys: the degradation's (``SecondOrderConfig``,
    defaults = train_realesrgan_x4plus.yml) and these.

    Attributes:
        gt_size: side of the GT crop each training pair is cut to, in pixels, 1 to 16384 (default
            256); the LQ crop is ``gt_size / scale``.
        queue_size: training pairs held in the pool that mixes batches, 0 to 65536 (default 180;
            0: no pool), allocated at the first batch; at least the batch size.
        gt_usm: RealESRNetModel's key (Real-ESRGAN's name): the pixel loss against the sharpened
            (USM) GT; RealESRGANModel refuses it; default: ``l1_gt_usm``.
        l1_gt_usm: the pixel loss compares with the sharpened (USM) GT (default true).
        percep_gt_usm: the perceptual loss compares with the sharpened GT (default true).
        gan_gt_usm: the discriminator sees the sharpened GT as real (default false).
        high_order_degradation: degrade each batch on the device with the keys above (default
            true); false trains on paired data (the batch brings its LQ; the GT is still sharpened).
    """

    gt_size: IntIn(1, MAX_SIZE) = 256
    queue_size: IntIn(0, 65536) = 180  # images held in the pair pool, allocated at the first batch (0: none)
    gt_usm: Optional[Bool] = None  # RealESRNetModel's (Real-ESRGAN's name): the pixel loss against the USM GT
    l1_gt_usm: Bool = True
    percep_gt_usm: Bool = True
    gan_gt_usm: Bool = False
    # false: train on paired data (the batch brings its LQ); the GT is still sharpened
    high_order_degradation: Bool = True

    def check(self, path):
        for name in ('resize_prob', 'resize_prob2'):
            v = getattr(self, name)
            if len(v) != 3 or min(v) < 0 or sum(v) <= 0:
                raise OptionError(f'{name}: expected 3 non-negative probabilities [up, down, keep], got {list(v)}')
        for name in ('resize_range', 'resize_range2', 'noise_range', 'noise_range2', 'poisson_scale_range',
                     'poisson_scale_range2', 'jpeg_range', 'jpeg_range2'):
            v = getattr(self, name)
            if len(v) != 2 or v[0] > v[1] or v[0] < 0:
                raise OptionError(f'{name}: expected [low, high] with 0 <= low <= high, got {list(v)}')
        for name in ('jpeg_range', 'jpeg_range2'):
            if not 1 <= getattr(self, name)[0] <= getattr(self, name)[1] <= 100:
                raise OptionError(f'{name}: JPEG qualities must lie in [1, 100], got {list(getattr(self, name))}')
        for name in ('resize_range', 'resize_range2'):
            lo, hi = getattr(self, name)
            if not 0 < lo <= 1 <= hi:
                raise OptionError(f'{name}: expected [low <= 1, high >= 1] with low > 0, got {[lo, hi]}')
        for suffix in ('', '2', '3'):
            modes, probs = getattr(self, 'resize_mode_list' + suffix), getattr(self, 'resize_mode_prob' + suffix)
            bad = [m for m in modes if m not in ALL_RESIZE_MODES]
            if bad or not modes:
                raise OptionError(f'resize_mode_list{suffix}: {bad[0] if bad else "empty"!r}: expected modes from '
                                  f'{", ".join(ALL_RESIZE_MODES)}')
            if len(probs) != len(modes) or min(probs) < 0 or sum(probs) <= 0:
                raise OptionError(f'resize_mode_prob{suffix}: expected {len(modes)} non-negative probabilities, one '
                                  f'per resize_mode_list{suffix} entry, got {list(probs)}')
        for name in ('gaussian_noise_prob', 'gray_noise_prob', 'second_blur_prob', 'gaussian_noise_prob2',
                     'gray_noise_prob2', 'blur_prob', 'jpeg_prob', 'jpeg_prob2'):
            if not 0 <= getattr(self, name) <= 1:
                raise OptionError(f'{name}: a probability must lie in [0, 1], got {getattr(self, name)}')
        if self.queue_size < 0:
            raise OptionError(f'queue_size: must be >= 0 (0 disables the pool), got {self.queue_size}')

    def degradation(self) -> SecondOrderConfig:
        return SecondOrderConfig.from_dict(dict(self))


class SecondOrderData:
    """The data step both Real-ESR models share: degrade each batch on the device."""

    Options = RealESRGANOptions
    default_target = None  # the GT or its sharpened copy: a recipe's losses say which

    @classmethod
    def check_options(cls, opt) -> None:
        train = opt.datasets.get('train')
        got = getattr(train, 'gt_size', None) if getattr(train, 'type', None) == 'RealESRGANDataset' else None
        if got is not None and got != opt.gt_size:
            raise OptionError(f'datasets.train.gt_size: {got} differs from the top-level gt_size {opt.gt_size} '
                              '(Real-ESR models crop after degrading, at the top-level size)')
        if opt.gt_usm is not None and cls.needs_gan:
            raise OptionError('gt_usm: RealESRNetModel\'s key; RealESRGANModel reads l1_gt_usm, percep_gt_usm '
                              'and gan_gt_usm')
        super().check_options(opt)
        if opt.train is None or not opt.high_order_degradation:
            return  # no degrader is built
        if opt.gt_size % opt.scale:
            raise OptionError(f'gt_size: {opt.gt_size} is not divisible by scale {opt.scale}')
        batch = getattr(train, 'batch_size_per_gpu', None)
        if opt.queue_size and batch is not None and opt.queue_size < batch:
            raise OptionError(f'queue_size: {opt.queue_size} is smaller than the batch size {batch}')

    def _build_degrader(self) -> None:
        m, scale = self.opt.model, self.opt.scale
        self.degrader = None
        if self.opt.train is None or not m.high_order_degradation:
            return
        # its own stream, distinct from the global RNGs seeded with manual_seed + rank
        seed = int(np.random.SeedSequence([self.opt.manual_seed, self.ctx.dist.rank, 2021]).generate_state(1)[0])
        self.degrader = Degrader(scale, m.gt_size, m.degradation(), m.queue_size, self.device, seed)

    def _layout(self, t: torch.Tensor) -> torch.Tensor:
        return t.contiguous(memory_format=torch.channels_last) if self.channels_last else t.contiguous()

    def prepare_batch(self, batch: dict) -> dict:
        """Adds ``lq``, ``gt`` (cropped, pooled) and ``gt_usm`` ``(B,3,H,W) RGB [0,1]``."""
        batch = super().prepare_batch(batch)
        with torch.no_grad():
            if self.degrader is None:
                if 'lq' not in batch:
                    raise DataError('high_order_degradation is false, so the training set must give LQ images '
                                    '(e.g. PairedImageDataset)')
                batch['gt_usm'] = self._layout(usm_sharp_pt(batch['gt']))
                return batch
            if 'kernel1' not in batch:
                raise DataError(f'datasets.train: {self.opt.model_type} degrades on the fly and needs the kernels '
                                'of RealESRGANDataset (type: RealESRGANDataset)')
            lq, gt, gt_usm, _ = self.degrader(batch['gt'], batch['kernel1'], batch['kernel2'], batch['sinc_kernel'])
        batch.update(lq=self._layout(lq), gt=self._layout(gt), gt_usm=self._layout(gt_usm))
        return batch

    def rank_state(self) -> dict:
        return {'degrader': self.degrader.state_dict()} if self.degrader is not None else {}

    def load_rank_state(self, state: dict) -> None:
        if self.degrader is not None and 'degrader' in state:
            self.degrader.load_state_dict(state['degrader'])

    @classmethod
    def loss_targets(cls, opt):
        return {'gt': 'the ground truth', 'gt_usm': 'the USM-sharpened ground truth', 'ldl': cls.LDL_TARGET}

    @classmethod
    def named_loss_targets(cls, opt):
        pix = 'l_g_pix' if cls.needs_gan else 'l_pix'
        if opt is None:  # the keys alone
            usm = percep_usm = True
        else:
            usm = opt.l1_gt_usm if opt.gt_usm is None else opt.gt_usm  # Real-ESRNet's recipes say gt_usm
            percep_usm = opt.percep_gt_usm
        return {'pixel_opt': ('gt_usm' if usm else 'gt', pix),
                'ldl_opt': ('ldl', pix.replace('pix', 'ldl')),
                'perceptual_opt': ('gt_usm' if percep_usm else 'gt', pix.replace('pix', 'percep'))}

    def loss_pairs(self, sr, batch) -> dict:
        return {'gt': (sr, batch['gt']), 'gt_usm': (sr, batch['gt_usm']), 'ldl': lambda: self.ldl_pair(sr, batch)}

    def d_real(self, batch):
        return batch['gt_usm'] if self.opt.gan_gt_usm else batch['gt']


@MODEL_REGISTRY.register()
class RealESRNetModel(SecondOrderData, SRModel):
    """Real-ESRNet: the generator alone, pixel loss (L1) against the (USM) GT."""

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        self._build_degrader()


@MODEL_REGISTRY.register()
class RealESRGANModel(SecondOrderData, SRGANModel):
    """Real-ESRGAN: SRGAN's step (UNet-SN D, vanilla GAN) with Real-ESRGAN's targets."""

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        self._build_degrader()
