"""Exponential moving average of a network's parameters *and* buffers."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """``ema = decay * ema + (1 - decay) * net`` on every floating tensor of the
    state dict (so BatchNorm running statistics are averaged too); integer
    buffers such as ``num_batches_tracked`` are copied.
    """

    def __init__(self, net: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(net).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self._pairs(net)

    def _pairs(self, net):
        src = net.state_dict(keep_vars=True)
        dst = self.module.state_dict(keep_vars=True)
        self._float_src, self._float_dst, self._int_src, self._int_dst = [], [], [], []
        for k, v in src.items():
            d = dst[k]
            if v.dtype.is_floating_point:
                self._float_src.append(v.detach())  # shares storage: sees every optimizer step
                self._float_dst.append(d)
            else:
                self._int_src.append(v)
                self._int_dst.append(d)

    @torch.no_grad()
    def update(self) -> None:
        if self._float_dst:
            torch._foreach_lerp_(self._float_dst, self._float_src, 1.0 - self.decay)
        for s, d in zip(self._int_src, self._int_dst):
            d.copy_(s)

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, sd):
        self.module.load_state_dict(sd)
