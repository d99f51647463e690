"""SRModel: a single generator trained with a pixel loss (SRResNet, RRDB-PSNR, EDSR...)."""
from __future__ import annotations

from ..registry import MODEL_REGISTRY
from .base import BaseModel


@MODEL_REGISTRY.register()
class SRModel(BaseModel):
    """``network_g`` + ``train.pixel_opt`` (L1/MSE/Charbonnier) + ``optim_g``.

    Batches hold ``lq (B,3,h,w)`` and ``gt (B,3,h*s,w*s)``, RGB float in [0,1].
    """

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        self.net_g = self.build_net('g')
        if opt.train is not None:
            self.opt_g = self.build_optimizer('g', self.nets['g'].parameters())
            self.cri_pix = self.build_loss('pixel_opt')
            self.build_ema('g')

    def train_step(self, batch):
        lq, (gt, _, _) = batch['lq'], self.targets(batch)
        with self.autocast():
            sr = self.net_g(lq)
        l_pix = self.cri_pix(sr.float(), gt)
        self.step('g', l_pix)
        return {'l_pix': l_pix.detach()}
