"""SRModel: a single generator trained with pixel (and any other) losses (SRResNet, RRDB-PSNR, EDSR...)."""
from __future__ import annotations

from ..registry import MODEL_REGISTRY
from .base import BaseModel


@MODEL_REGISTRY.register()
class SRModel(BaseModel):
    """``network_g`` + ``optim_g`` + its losses: ``train.pixel_opt`` (L1/MSE/Charbonnier, logged
    as ``l_pix``) and/or ``train.losses``, each compared with the GT.

    Batches hold ``lq (B,3,h,w)`` and ``gt (B,3,h*s,w*s)``, RGB float in [0,1].
    """

    sr_generator = True
    default_target = 'gt'

    @classmethod
    def loss_targets(cls, opt):
        return {'gt': 'the ground truth', 'ldl': cls.LDL_TARGET}

    @classmethod
    def named_loss_targets(cls, opt):
        return {'pixel_opt': ('gt', 'l_pix'), 'perceptual_opt': ('gt', 'l_percep')}

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        self.net_g = self.build_net('g')
        if opt.train is not None:
            self.opt_g = self.build_optimizer('g', self.nets['g'].parameters())
            self.build_losses()
            self.build_ema('g')

    def loss_pairs(self, sr, batch) -> dict:
        """``{target: (output, reference)}`` for :meth:`generator_losses`."""
        return {'gt': (sr, batch['gt']), 'ldl': lambda: self.ldl_pair(sr, batch)}

    def train_step(self, batch):
        with self.autocast():
            sr = self.net_g(batch['lq'])
        losses = self.generator_losses(self.loss_pairs(sr.float(), batch))
        self.step('g', sum(losses.values()))
        return {k: v.detach() for k, v in losses.items()}


@MODEL_REGISTRY.register()
class SwinIRModel(SRModel):
    """BasicSR's ``SwinIRModel``: an SRModel whose validation pads the LQ to the window size.
    srkit pads every network to what it declares (:func:`srkit.inference.run_generator`), so
    this is SRModel under the name BasicSR's SwinIR, HAT and DAT recipes use."""
