"""Focal frequency loss (Jiang et al., ICCV 2021) as traiNNer-redux trains with it (``ffloss``)."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import LOSS_REGISTRY


@LOSS_REGISTRY.register()
class FFLoss(nn.Module):
    """``loss_weight * 50 * mean(w * |F(x) - F(ref)|^2)`` for ``(B,C,H,W)`` images: the squared
    distance of their orthonormal 2-D spectra (per patch, averaged over the batch by default),
    each frequency weighted by its own distance to the power ``alpha``, normalised to [0, 1] (the
    "focal" weights, not differentiated).  traiNNer-redux's ``ffloss``: the published loss
    (EndlessSora/focal-frequency-loss) with the batch-averaged spectrum and a factor of 50.

    Args:
        loss_weight: the factor the loss is multiplied by, >= 0 (default 1.0).
        alpha: the exponent of the spectrum weights (default 1).
        patch_factor: split each image into this many patches per side first, which must divide
            its height and width (default 1: whole images).
        ave_spectrum: compare the batch's mean spectra (default true, traiNNer-redux's).
        log_matrix: weights ``log(1 + w)`` (default false).
        batch_matrix: normalise the weights by the batch's largest, not each spectrum's (default
            false).
    """

    role = 'compare'
    outputs = ()

    def __init__(self, loss_weight: float = 1.0, alpha: float = 1.0, patch_factor: int = 1, ave_spectrum: bool = True,
                 log_matrix: bool = False, batch_matrix: bool = False):
        super().__init__()
        self.loss_weight, self.alpha, self.patch_factor = loss_weight, alpha, patch_factor
        self.ave_spectrum, self.log_matrix, self.batch_matrix = ave_spectrum, log_matrix, batch_matrix

    def _freq(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, P, C, h, w, 2)``: the patches' spectra, real and imaginary parts."""
        b, c, h, w = x.shape
        f = self.patch_factor
        if h % f or w % f:
            raise ValueError(f'FFLoss: patch_factor {f} does not divide the {h}x{w} images')
        patches = x.reshape(b, c, f, h // f, f, w // f).permute(0, 2, 4, 1, 3, 5).reshape(b, f * f, c, h // f, w // f)
        spec = torch.fft.fft2(patches, norm='ortho')
        return torch.stack([spec.real, spec.imag], -1)

    def forward(self, x, ref):
        fx, fy = self._freq(x.float()), self._freq(ref.float())
        if self.ave_spectrum:
            fx, fy = fx.mean(0, keepdim=True), fy.mean(0, keepdim=True)
        dist = ((fx - fy) ** 2).sum(-1)
        with torch.no_grad():
            w = dist.sqrt() ** self.alpha
            if self.log_matrix:
                w = torch.log(w + 1.0)
            w = w / (w.max() if self.batch_matrix else w.amax((-2, -1), keepdim=True))
            w = torch.nan_to_num(w, nan=0.0).clamp(0, 1)
        return self.loss_weight * 50 * (w * dist).mean()
