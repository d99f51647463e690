"""SRGAN and ESRGAN: a generator and a discriminator, G step then D step.

Both read ``network_g``/``network_d``, ``optim_g``/``optim_d`` and the losses
``pixel_opt``, ``perceptual_opt`` (optional) and ``gan_opt``, or the same as
``train.losses`` entries with targets ``gt`` (and ``lowpass`` under frequency
separation).  ``net_d_iters`` updates G every N iterations; ``net_d_init_iters``
trains D alone for the first N.  Batches hold ``lq (B,3,h,w)`` and ``gt (B,3,H,W)``;
D's real images come from ``d_real(batch)`` (``gt`` here).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..archs.dsgan import FilterHigh, FilterLow
from ..config import Bool, GANTrainOptions, IntIn, Schema
from ..errors import OptionError
from ..losses.gan import gradient_penalty
from ..registry import ARCH_REGISTRY, MODEL_REGISTRY
from .base import GANModel


class SRGANOptions(Schema):
    """Frequency separation (ESRGAN-FS, Fritsche et al. 2019): with ``fs_filter_size``
    (the paper: 9) the pixel loss compares low-passes of SR and GT and D sees
    high-passes only; ``fs_gaussian`` swaps the box for a Gaussian.

    Attributes:
        fs_filter_size: side of the frequency-separation filter, an odd number 1 to 255 (the
            paper: 9); default: none (the plain loss on whole images).
        fs_gaussian: a Gaussian filter (sigma = size / 6) instead of the box (default false).
    """

    fs_filter_size: Optional[IntIn(1, 255)] = None
    fs_gaussian: Bool = False

    def check(self, path):
        if self.fs_filter_size is not None and (self.fs_filter_size < 1 or self.fs_filter_size % 2 == 0):
            raise OptionError(f'fs_filter_size: must be a positive odd number, got {self.fs_filter_size}')


class _HighPassInput(nn.Module):
    """Calls D on the high-pass of its input; holds no weights of its own, so D's files keep their keys."""

    def __init__(self, net_d: nn.Module, high: FilterHigh):
        super().__init__()
        self.net_d, self.high = net_d, high

    def forward(self, x):
        return self.net_d(self.high(x))


@MODEL_REGISTRY.register()
class SRGANModel(GANModel):
    """Standard GAN loss on D's raw output (vanilla, lsgan, wgan-gp, hinge)."""

    sr_generator = True

    Options = SRGANOptions
    TrainOptions = GANTrainOptions
    default_target = 'gt'

    @classmethod
    def loss_targets(cls, opt):
        out = {'gt': 'the ground truth', 'ldl': cls.LDL_TARGET}
        if getattr(opt, 'fs_filter_size', None):
            out['lowpass'] = 'the low-pass of the ground truth (the output low-passed too)'
        return out

    @classmethod
    def named_loss_targets(cls, opt):
        fs = getattr(opt, 'fs_filter_size', None)
        return {'pixel_opt': ('lowpass' if fs else 'gt', 'l_g_pix'), 'perceptual_opt': ('gt', 'l_g_percep')}

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        if not self.build_gan():
            return
        self.fs_low = None
        fs = getattr(opt.model, 'fs_filter_size', None)
        if fs:
            self.fs_low = FilterLow(fs, opt.model.fs_gaussian).to(self.device)
            self.net_d = _HighPassInput(self.net_d, FilterHigh(fs, opt.model.fs_gaussian).to(self.device))
            ctx.log(f'frequency separation (ESRGAN-FS): pixel loss on the low-pass, D on the high-pass, size {fs}')
        self.build_losses()
        self.build_ema('g')

    @classmethod
    def check_options(cls, opt) -> None:
        """A discriminator built for one input size (its architecture declares the key that fixes
        it, ``input_size_key``) must see training crops of that size: ``datasets.train.gt_size``,
        or the top-level ``gt_size`` of a family that crops after degrading."""
        super().check_options(opt)
        spec, train = opt.networks.get('d'), opt.datasets.get('train')
        if opt.train is None or spec is None or train is None:
            return
        arch = ARCH_REGISTRY.get(spec.type, 'network_d.type')
        key = getattr(arch, 'input_size_key', None)
        if key is None:
            return
        size = getattr(spec, key)
        where, got = (('gt_size', opt.model.gt_size) if hasattr(opt.model, 'gt_size')
                      else ('datasets.train.gt_size', getattr(train, 'gt_size', None)))
        if got != size:
            sizes = ' or '.join(str(s) for s in getattr(arch, 'input_sizes', ()))
            raise OptionError(f'{where}: {got} does not match network_d.{key} {size}'
                              + (f' ({spec.type} takes {sizes})' if sizes else ''))

    def g_turn(self) -> bool:
        t = self.train_opt
        return self.current_iter % t.net_d_iters == 0 and self.current_iter > t.net_d_init_iters

    def loss_pairs(self, sr, batch) -> dict:
        """``{target: (output, reference)}`` for :meth:`generator_losses`."""
        gt = batch['gt']
        return {'gt': (sr, gt), 'lowpass': lambda: (self.fs_low(sr), self.fs_low(gt)),
                'ldl': lambda: self.ldl_pair(sr, batch)}

    def d_real(self, batch) -> torch.Tensor:
        """The real images D learns from."""
        return batch['gt']

    def train_step(self, batch):
        lq, gt = batch['lq'], self.d_real(batch)
        logs = {}
        with self.autocast():
            sr = self.net_g(lq)
        sr = sr.float()

        # generator step, D frozen
        if self.g_turn():
            self.requires_grad(self.nets['d'], False)
            losses = self.generator_losses(self.loss_pairs(sr, batch))
            with self.autocast():
                fake_g = self.net_d(sr)
            losses['l_g_gan'] = self.cri_gan(fake_g.float(), True, is_disc=False)
            self.step('g', sum(losses.values()))
            logs.update(losses)

        # discriminator step
        self.requires_grad(self.nets['d'], True)
        self.zero_grad('d')
        with self.autocast():
            real_d = self.net_d(gt)
        l_d_real = self.cri_gan(real_d.float(), True, is_disc=True)
        self.backward('d', l_d_real)
        with self.autocast():
            fake_d = self.net_d(sr.detach())
        l_d_fake = self.cri_gan(fake_d.float(), False, is_disc=True)
        if self.cri_gan.use_gp:
            l_d_fake = l_d_fake + self.cri_gan.gp_weight * gradient_penalty(self.net_d, gt, sr)
        self.backward('d', l_d_fake)
        self.apply('d')
        logs.update(l_d_real=l_d_real, l_d_fake=l_d_fake,
                    out_d_real=real_d.mean(), out_d_fake=fake_d.mean())
        return {k: v.detach() for k, v in logs.items()}


@MODEL_REGISTRY.register()
class ESRGANModel(SRGANModel):
    """Relativistic average GAN (RaGAN) on top of SRGAN's losses.

    Without DDP, D(real) is computed once, before the G step, and reused by the
    D step (D's weights do not change in between); under DDP every D forward is
    followed by its own backward, which DDP with BatchNorm requires.
    """

    def train_step(self, batch):
        lq, gt = batch['lq'], self.d_real(batch)
        d = self.nets['d']
        fused = not self.ctx.dist.enabled
        logs = {}
        if fused:
            self.requires_grad(d, True)
            with self.autocast():
                real_d = self.net_d(gt).float()
        with self.autocast():
            sr = self.net_g(lq)
        sr = sr.float()

        # generator step, D frozen
        fake_ref = None
        if self.g_turn():
            self.requires_grad(d, False)
            losses = self.generator_losses(self.loss_pairs(sr, batch))
            with self.autocast():
                if fused:
                    real_g = real_d.detach()
                else:
                    with torch.no_grad():
                        real_g = self.net_d(gt).float()
                fake_g = self.net_d(sr).float()
            losses['l_g_gan'] = self.cri_gan.ragan_g(real_g, fake_g)
            self.step('g', sum(losses.values()))
            logs.update(losses)
            fake_ref = fake_g.detach()

        # discriminator step: 1/2 L(C(r) - E C(f), real) + 1/2 L(C(f) - E C(r), fake)
        self.requires_grad(d, True)
        self.zero_grad('d')
        if fake_ref is None:
            with torch.no_grad(), self.autocast():
                fake_ref = self.net_d(sr.detach()).float()
        if not fused:
            with self.autocast():
                real_d = self.net_d(gt).float()
        l_d_real = 0.5 * self.cri_gan(real_d - fake_ref.mean(), True, is_disc=True)
        self.backward('d', l_d_real)
        with self.autocast():
            fake_d = self.net_d(sr.detach()).float()
        l_d_fake = 0.5 * self.cri_gan(fake_d - real_d.detach().mean(), False, is_disc=True)
        self.backward('d', l_d_fake)
        self.apply('d')
        logs.update(l_d_real=l_d_real, l_d_fake=l_d_fake,
                    out_d_real=real_d.detach().mean(), out_d_fake=fake_d.detach().mean())
        return {k: v.detach() for k, v in logs.items()}
