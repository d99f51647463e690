"""GAN losses: vanilla (BCE with logits), lsgan, wgan (+ gradient penalty), hinge,
and the relativistic average (RaGAN) terms ESRGAN uses.

``GANLoss(pred, target_is_real, is_disc)`` follows BasicSR: ``loss_weight``
scales generator terms only.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from ..registry import LOSS_REGISTRY


@LOSS_REGISTRY.register()
class GANLoss(nn.Module):
    """The adversarial loss on the discriminator's raw outputs (BasicSR's ``GANLoss``).

    Args:
        gan_type: ``vanilla`` (BCE with logits, default), ``lsgan`` (MSE), ``wgan``, ``wgan-gp``
            (wgan with a gradient penalty), ``wgan_softplus`` or ``hinge``.
        real_label_val: the target of real images for ``vanilla``/``lsgan`` (default 1.0).
        fake_label_val: the target of generated images for ``vanilla``/``lsgan`` (default 0.0).
        loss_weight: the factor of the generator's adversarial term, >= 0 (default 1.0; ESRGAN:
            5e-3); the discriminator's loss is not scaled.
        gp_weight: the factor of the gradient penalty with ``wgan-gp`` (default 10.0).
    """

    role = 'adversarial'  # called on D's outputs, ``(pred, target_is_real, is_disc)``; no target
    outputs = ()

    def __init__(self, gan_type: Literal['vanilla', 'lsgan', 'wgan', 'wgan-gp', 'wgan_softplus', 'hinge'] = 'vanilla',
                 real_label_val: float = 1.0, fake_label_val: float = 0.0, loss_weight: float = 1.0,
                 gp_weight: float = 10.0):
        super().__init__()
        self.gan_type = 'wgan' if gan_type == 'wgan-gp' else gan_type
        self.use_gp = gan_type == 'wgan-gp'
        self.gp_weight = gp_weight
        self.real_label_val = real_label_val
        self.fake_label_val = fake_label_val
        self.loss_weight = loss_weight

    def _raw(self, pred, real: bool, is_disc: bool):
        t = self.gan_type
        if t == 'vanilla':
            label = self.real_label_val if real else self.fake_label_val
            return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, label))
        if t == 'lsgan':
            label = self.real_label_val if real else self.fake_label_val
            return F.mse_loss(pred, torch.full_like(pred, label))
        if t == 'wgan':
            return -pred.mean() if real else pred.mean()
        if t == 'wgan_softplus':
            return F.softplus(-pred).mean() if real else F.softplus(pred).mean()
        # hinge
        if is_disc:
            return F.relu(1 - pred).mean() if real else F.relu(1 + pred).mean()
        return -pred.mean()

    def forward(self, pred, target_is_real: bool, is_disc: bool = False):
        loss = self._raw(pred, target_is_real, is_disc)
        return loss if is_disc else loss * self.loss_weight

    # relativistic average GAN (ESRGAN): C(.) are raw D outputs
    def ragan_d(self, real_pred, fake_pred):
        """D term: 1/2 [L(C(r) - E C(f), real) + L(C(f) - E C(r), fake)], fake detached by the caller."""
        return 0.5 * (self.forward(real_pred - fake_pred.mean(), True, True)
                      + self.forward(fake_pred - real_pred.mean(), False, True))

    def ragan_g(self, real_pred, fake_pred):
        """G term: 1/2 [L(C(r) - E C(f), fake) + L(C(f) - E C(r), real)], real detached."""
        real_pred = real_pred.detach()
        return 0.5 * (self.forward(real_pred - fake_pred.mean(), False)
                      + self.forward(fake_pred - real_pred.mean(), True))


def gradient_penalty(net_d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: E[(||grad_x D(x)||_2 - 1)^2] at random interpolates of real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = net_d(x)
    grad, = torch.autograd.grad(out.sum(), x, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
