"""DSGAN: learn the degradation of real images from unpaired data (Fritsche et al., 2019).

The generator maps a bicubic downscale of a source crop (clean: downscaling
averages noise away) to an image with the target domain's high frequencies.
The losses separate frequencies: L1 on the low-pass keeps the colours of the
input (``color_opt``, weight 1), the GAN acts on the high-pass only (D's fixed
front end; ``gan_opt``, weight 0.005) and a perceptual term keeps the content
(``perceptual_opt``: LPIPS, or VGG features, weight 0.01).

Batches (``UnpairedImageDataset``) hold ``a (B,3,S,S)``, source crops, and
``b (B,3,s,s)``, real images of the target domain (or native-resolution crops
of the source itself: the paper's "same domain" setting).
"""
from __future__ import annotations

import torch

from degradations import imresize_torch

from ..archs.dsgan import FilterLow
from ..config import Bool, IntIn, Schema
from ..errors import DataError, OptionError
from ..losses.gan import gradient_penalty
from ..registry import LOSS_REGISTRY, MODEL_REGISTRY
from .base import GANModel


class DSGANOptions(Schema):
    """DSGAN's top-level keys.

    Attributes:
        filter_size: side of the colour loss's low-pass filter, an odd number 1 to 255 (default
            5); D's high-pass is ``network_d.filter_size``.
        gaussian_filter: a Gaussian low-pass (sigma = size / 6) instead of the box (default false).
        relativistic: the relativistic average GAN loss (RaGAN) instead of ``gan_opt``'s plain one
            (default false).
    """

    filter_size: IntIn(1, 255) = 5           # the colour loss's box low-pass (D's high-pass is network_d.filter_size)
    gaussian_filter: Bool = False  # a Gaussian (sigma = size/6) instead of the box
    relativistic: Bool = False     # RaGAN instead of gan_opt's plain loss

    def check(self, path):
        if self.filter_size < 1 or self.filter_size % 2 == 0:
            raise OptionError(f'filter_size: must be a positive odd number, got {self.filter_size}')


@MODEL_REGISTRY.register()
class DSGANModel(GANModel):
    """``network_g`` (DSGAN's generator) and ``network_d`` (its discriminator); D step, then G step."""

    Options = DSGANOptions

    @classmethod
    def loss_targets(cls, opt):
        return {'input_lowpass': "the low-pass of G's input, the bicubic LR (the output low-passed too)",
                'input': "G's input, the bicubic LR"}

    @classmethod
    def named_loss_targets(cls, opt):
        return {'color_opt': ('input_lowpass', 'l_g_color'), 'perceptual_opt': ('input', 'l_g_percep')}

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        if not self.build_gan():
            return
        self.low = FilterLow(opt.model.filter_size, opt.model.gaussian_filter).to(self.device)
        self.build_losses()
        self.build_ema('g')

    @classmethod
    def check_options(cls, opt) -> None:
        super().check_options(opt)
        if opt.train is None or not opt.relativistic:
            return
        for term in opt.loss_terms:
            # the adversarial loss says whether it adds a gradient penalty (use_gp); it is cheap to build
            if term.adversarial and getattr(LOSS_REGISTRY.build(term.spec, term.where), 'use_gp', False):
                raise OptionError('relativistic: RaGAN and wgan-gp do not combine; pick one')

    def prepare_batch(self, batch: dict) -> dict:
        """Adds ``lq``: the bicubic (MATLAB) downscale of ``a`` by ``scale``, the G input."""
        if 'a' not in batch or 'b' not in batch:
            raise DataError('datasets.train: DSGANModel needs two domains (type: UnpairedImageDataset)')
        batch = super().prepare_batch(batch)
        with torch.no_grad():
            lq = torch.clamp(imresize_torch(batch['a'], 1.0 / self.opt.scale), 0, 1)
        batch['lq'] = lq.contiguous(memory_format=torch.channels_last) if self.channels_last else lq
        return batch

    def train_step(self, batch):
        x, real = batch['lq'], batch['b']
        relativistic = self.opt.model.relativistic
        with self.autocast():
            fake = self.net_g(x)
        fake = fake.float()
        logs = {}

        # discriminator step: D sees the high-pass of real target images and of G(x)
        self.requires_grad(self.nets['d'], True)
        self.zero_grad('d')
        with self.autocast():
            real_d = self.net_d(real).float()
            fake_d = self.net_d(fake.detach()).float()
        if relativistic:
            l_d = self.cri_gan.ragan_d(real_d, fake_d)
        else:
            l_d = self.cri_gan(real_d, True, is_disc=True) + self.cri_gan(fake_d, False, is_disc=True)
            if self.cri_gan.use_gp:
                l_d = l_d + self.cri_gan.gp_weight * gradient_penalty(self.net_d, real, fake)
        self.backward('d', l_d)
        self.apply('d')
        logs.update(l_d=l_d, out_d_real=real_d.detach().mean(), out_d_fake=fake_d.detach().mean())

        # generator step, D frozen; D(G(x)) is computed anew, after D's update (the
        # authors' code reused the pre-update output, which current PyTorch refuses)
        self.requires_grad(self.nets['d'], False)
        losses = self.generator_losses({'input_lowpass': lambda: (self.low(fake), self.low(x)),
                                        'input': (fake, x)})
        with self.autocast():
            fake_g = self.net_d(fake).float()
        if relativistic:
            with torch.no_grad(), self.autocast():
                real_g = self.net_d(real).float()
            losses['l_g_gan'] = self.cri_gan.ragan_g(real_g, fake_g)
        else:
            losses['l_g_gan'] = self.cri_gan(fake_g, True, is_disc=False)
        self.step('g', sum(losses.values()))
        logs.update(losses)
        return {k: v.detach() for k, v in logs.items()}
